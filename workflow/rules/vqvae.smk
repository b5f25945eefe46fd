# The per-part VQ-VAEs and their codebook indices, one job per dataset x part. Mirrors the same stages in dvc.yaml
# (matrix over datasets and parts; DVC names them train_vqvae@<dataset>-<part>).


wildcard_constraints:
    part="body|hand",


rule train_vqvae:
    input:
        "results/build_windows/{dataset}/windows",
        "results/extract_features/{dataset}/features",
        "results/train_fgd_encoder/{dataset}/encoder",
        "results/train_sync_evaluator/{dataset}/evaluator",
        "results/train_oracles/{dataset}/oracles",
        "results/evaluate_baselines/{dataset}/summary.csv",
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
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
        "gesturegen/models/contrastive.py",
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/models/oracles.py",
        "gesturegen/models/quantizer.py",
        "gesturegen/models/sync_evaluator.py",
        "gesturegen/models/vqvae.py",
        "gesturegen/summary.py",
        "gesturegen/systems/__init__.py",
        "gesturegen/systems/sync_system.py",
        "gesturegen/systems/vqvae_system.py",
        "gesturegen/training.py",
        "stages/__init__.py",
        "stages/train_vqvae.py",
    output:
        model=update(directory("results/train_vqvae/{dataset}-{part}/model")),
        curves=update(directory("results/train_vqvae/{dataset}-{part}/dvclive/plots/metrics")),
        summary=update("results/train_vqvae/{dataset}-{part}/summary.csv"),
        report=update("results/train_vqvae/{dataset}-{part}/report.json"),
        metrics=update("results/train_vqvae/{dataset}-{part}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        train_vqvae=config["train_vqvae"],
        evaluate_baselines=config["evaluate_baselines"],
    resources:
        **RESOURCES["train_vqvae"],
    log:
        "logs/train_vqvae/{dataset}-{part}.log",
    threads: PARAMS.compute.threads_for("train_vqvae")
    conda:
        ENV
    shell:
        "python -m stages.train_vqvae --dataset {wildcards.dataset} --part {wildcards.part} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--features results/extract_features/{wildcards.dataset}/features "
        "--encoder results/train_fgd_encoder/{wildcards.dataset}/encoder "
        "--sync results/train_sync_evaluator/{wildcards.dataset}/evaluator "
        "--oracles results/train_oracles/{wildcards.dataset}/oracles "
        "--baselines results/evaluate_baselines/{wildcards.dataset}/summary.csv "
        "--out-dir results/train_vqvae/{wildcards.dataset}-{wildcards.part} 2>&1 | tee {log}"


rule extract_codes:
    input:
        "results/build_windows/{dataset}/windows",
        "results/train_vqvae/{dataset}-{part}/model",
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
        "gesturegen/codes.py",
        "gesturegen/compute.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/annotations.py",
        "gesturegen/data/skeleton.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/distributed.py",
        "gesturegen/io.py",
        "gesturegen/metrics/__init__.py",
        "gesturegen/metrics/beat.py",
        "gesturegen/metrics/diversity.py",
        "gesturegen/metrics/fgd.py",
        "gesturegen/metrics/kid.py",
        "gesturegen/metrics/motion.py",
        "gesturegen/metrics/oracle.py",
        "gesturegen/models/__init__.py",
        "gesturegen/models/checkpoint.py",
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/models/quantizer.py",
        "gesturegen/models/vqvae.py",
        "gesturegen/plots.py",
        "stages/__init__.py",
        "stages/extract_codes.py",
    output:
        codes=update(directory("results/extract_codes/{dataset}-{part}/codes")),
        plots=update(directory("results/extract_codes/{dataset}-{part}/plots")),
        report=update("results/extract_codes/{dataset}-{part}/report.json"),
        metrics=update("results/extract_codes/{dataset}-{part}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        extract_codes=config["extract_codes"],
    resources:
        **RESOURCES["extract_codes"],
    log:
        "logs/extract_codes/{dataset}-{part}.log",
    threads: PARAMS.compute.threads_for("extract_codes")
    conda:
        ENV
    shell:
        "python -m stages.extract_codes --dataset {wildcards.dataset} --part {wildcards.part} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--model results/train_vqvae/{wildcards.dataset}-{wildcards.part}/model "
        "--out-dir results/extract_codes/{wildcards.dataset}-{wildcards.part} 2>&1 | tee {log}"
