# The runs of a lease (sourced by stage.sh and continue.sh), all on the training photos of ~/runs/A_l1's split:
#   TRUNK_A  the shipped trunk (G1c) trained on at the recipe's batch 64 and learning rate
#   TRUNK_B  the same at batch 256 with twice the learning rate (a GPU runs 4x the batch in about the same time)
#   BRANCH   session 5's chroma branch (the QA/GQA recipe) on a frozen trunk, as shipped
common=(--preset default --hints --threads 5)
TRUNK_A=("${common[@]}" --batch-size 64 --lr 0.0002 --init-from /tmp/G1c.safetensors)
TRUNK_B=("${common[@]}" --batch-size 256 --lr 0.0004 --init-from /tmp/G1c.safetensors)
BRANCH=("${common[@]}" --chroma-head chroma --chroma-only --chroma-branch 3 --chroma-error ab
  --chroma-quantiles 0.5 0.6 0.7 0.75 0.8 0.85 0.9 --chroma-max-gain 3 --batch-size 16 --lr 0.0005)
