"""Benchmarks: the pretraining methods compared with and without online finetuning, on the MuJoCo
twins and Meta-World (`postbc bench ...`; results in bench/results/).

- `learning`: `postbc bench learning` (pretrain, finetune online, learning curves)
- `pretrain`: `postbc bench pretrain` (pretrained success and coverage of method variants)
- `pretrain_scaling`: `postbc bench pretrain-demos` (those results against the number of demos)
- `demos`: the envs, disjoint env seeds and recorded demonstrations they share
- `rollout`: running chunk agents in gymnasium envs (episodes, evaluation)
- `stats`, `output`: confidence intervals; JSON and PNG files
"""
