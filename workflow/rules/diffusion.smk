# The per-part latent diffusion models, one job per dataset x part (params section `diffusion`). Mirrors the same
# stage in dvc.yaml (matrix over datasets and parts; DVC names them diffusion@<dataset>-<part>).


rule diffusion:
    input:
        "results/build_windows/{dataset}/windows",
        "results/extract_features/{dataset}/features",
        "results/extract_codes/{dataset}-{part}/codes",
        "results/train_vqvae/{dataset}-{part}/model",
        "results/train_fgd_encoder/{dataset}/encoder",
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
        "gesturegen/codes.py",
        "gesturegen/compute.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/annotations.py",
        "gesturegen/data/records.py",
        "gesturegen/data/skeleton.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/distributed.py",
        "gesturegen/evaluation.py",
        "gesturegen/evaluators.py",
        "gesturegen/features/__init__.py",
        "gesturegen/features/audio.py",
        "gesturegen/features/common.py",
        "gesturegen/features/data2vec.py",
        "gesturegen/features/encoders.py",
        "gesturegen/features/store.py",
        "gesturegen/features/text.py",
        "gesturegen/generation.py",
        "gesturegen/io.py",
        "gesturegen/metrics/__init__.py",
        "gesturegen/metrics/beat.py",
        "gesturegen/metrics/diversity.py",
        "gesturegen/metrics/fgd.py",
        "gesturegen/metrics/kid.py",
        "gesturegen/metrics/motion.py",
        "gesturegen/metrics/oracle.py",
        "gesturegen/metrics/retrieval.py",
        "gesturegen/models/__init__.py",
        "gesturegen/models/checkpoint.py",
        "gesturegen/models/denoisers.py",
        "gesturegen/models/diffusion.py",
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/models/latent_diffusion.py",
        "gesturegen/models/oracles.py",
        "gesturegen/models/quantizer.py",
        "gesturegen/models/stroke_plan.py",
        "gesturegen/models/sync_evaluator.py",
        "gesturegen/models/vqvae.py",
        "gesturegen/summary.py",
        "gesturegen/systems/__init__.py",
        "gesturegen/systems/diffusion_system.py",
        "gesturegen/training.py",
        "stages/__init__.py",
        "stages/diffusion.py",
    output:
        model=update(directory("results/diffusion/{dataset}-{part}/model")),
        curves=update(directory("results/diffusion/{dataset}-{part}/dvclive/plots/metrics")),
        report=update("results/diffusion/{dataset}-{part}/report.json"),
        metrics=update("results/diffusion/{dataset}-{part}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        diffusion=config["diffusion"],
        evaluate_baselines=config["evaluate_baselines"],
    resources:
        **RESOURCES["diffusion"],
    log:
        "logs/diffusion/{dataset}-{part}.log",
    threads: PARAMS.compute.threads_for("diffusion")
    conda:
        ENV
    shell:
        "python -m stages.diffusion --dataset {wildcards.dataset} --part {wildcards.part} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--features results/extract_features/{wildcards.dataset}/features "
        "--codes results/extract_codes/{wildcards.dataset}-{wildcards.part}/codes "
        "--vqvae results/train_vqvae/{wildcards.dataset}-{wildcards.part}/model "
        "--encoder results/train_fgd_encoder/{wildcards.dataset}/encoder "
        "--out-dir results/diffusion/{wildcards.dataset}-{wildcards.part} 2>&1 | tee {log}"


rule evaluate:
    input:
        "results/build_windows/{dataset}/windows",
        "results/extract_features/{dataset}/features",
        "results/train_fgd_encoder/{dataset}/encoder",
        "results/train_sync_evaluator/{dataset}/evaluator",
        "results/train_oracles/{dataset}/oracles",
        "results/evaluate_baselines/{dataset}/summary.csv",
        expand("results/extract_codes/{{dataset}}-{part}/codes", part=PARTS),
        expand("results/train_vqvae/{{dataset}}-{part}/model", part=PARTS),
        expand("results/diffusion/{{dataset}}-{part}/model", part=PARTS),
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
        "gesturegen/codes.py",
        "gesturegen/compute.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/annotations.py",
        "gesturegen/data/records.py",
        "gesturegen/data/skeleton.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/distributed.py",
        "gesturegen/evaluation.py",
        "gesturegen/evaluators.py",
        "gesturegen/features/__init__.py",
        "gesturegen/features/audio.py",
        "gesturegen/features/common.py",
        "gesturegen/features/data2vec.py",
        "gesturegen/features/encoders.py",
        "gesturegen/features/store.py",
        "gesturegen/features/text.py",
        "gesturegen/generation.py",
        "gesturegen/io.py",
        "gesturegen/metrics/__init__.py",
        "gesturegen/metrics/beat.py",
        "gesturegen/metrics/diversity.py",
        "gesturegen/metrics/fgd.py",
        "gesturegen/metrics/kid.py",
        "gesturegen/metrics/motion.py",
        "gesturegen/metrics/oracle.py",
        "gesturegen/metrics/retrieval.py",
        "gesturegen/models/__init__.py",
        "gesturegen/models/checkpoint.py",
        "gesturegen/models/denoisers.py",
        "gesturegen/models/diffusion.py",
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/models/latent_diffusion.py",
        "gesturegen/models/oracles.py",
        "gesturegen/models/quantizer.py",
        "gesturegen/models/stroke_plan.py",
        "gesturegen/models/sync_evaluator.py",
        "gesturegen/models/vqvae.py",
        "gesturegen/plots.py",
        "gesturegen/summary.py",
        "gesturegen/systems/__init__.py",
        "gesturegen/systems/diffusion_system.py",
        "gesturegen/training.py",
        "stages/__init__.py",
        "stages/diffusion.py",
        "stages/evaluate.py",
    output:
        runs=update("results/evaluate/{dataset}/runs.csv"),
        summary=update("results/evaluate/{dataset}/summary.csv"),
        report=update("results/evaluate/{dataset}/report.json"),
        nfe=update("results/evaluate/{dataset}/nfe.png"),
        rows=update("results/evaluate/{dataset}/rows.png"),
        metrics=update("results/evaluate/{dataset}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        diffusion=config["diffusion"],
        evaluate=config["evaluate"],
        evaluate_baselines=config["evaluate_baselines"],
    resources:
        **RESOURCES["evaluate"],
    log:
        "logs/evaluate/{dataset}.log",
    threads: PARAMS.compute.threads_for("evaluate")
    conda:
        ENV
    shell:
        "python -m stages.evaluate --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--features results/extract_features/{wildcards.dataset}/features "
        "--codes results/extract_codes/{wildcards.dataset}-{{part}}/codes "
        "--vqvae results/train_vqvae/{wildcards.dataset}-{{part}}/model "
        "--diffusion results/diffusion/{wildcards.dataset}-{{part}}/model "
        "--encoder results/train_fgd_encoder/{wildcards.dataset}/encoder "
        "--sync results/train_sync_evaluator/{wildcards.dataset}/evaluator "
        "--oracles results/train_oracles/{wildcards.dataset}/oracles "
        "--baselines results/evaluate_baselines/{wildcards.dataset}/summary.csv "
        "--out-dir results/evaluate/{wildcards.dataset} 2>&1 | tee {log}"
