import os
import subprocess
import sys

from colorgan.io.streams import stderr_without


def test_only_the_unwanted_lines_are_dropped_from_native_stderr(capfd):
    os.write(2, b"before\n")
    with stderr_without("announces its log level"):
        os.write(2, b"kept 1\n")
        os.write(2, b"the core announces its log level to 3\n")  # as a native library writes: to the descriptor
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'kept 2\\n')"], check=True)
        print("kept 3", file=sys.stderr)
    os.write(2, b"after: announces its log level\n")  # outside the block, nothing is dropped
    assert capfd.readouterr().err == "before\nkept 1\nkept 2\nkept 3\nafter: announces its log level\n"


def test_the_filter_ends_with_the_block_even_when_it_raises(capfd):
    try:
        with stderr_without("x"):
            raise KeyError("boom")
    except KeyError:
        pass
    os.write(2, b"x still written\n")
    assert capfd.readouterr().err == "x still written\n"
