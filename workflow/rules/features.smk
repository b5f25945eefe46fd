# Conditioning features and the FGD feature extractor. Mirrors the same stages in dvc.yaml
# (the commands are identical up to " 2>&1 | tee {log}", which only keeps a log of what you see).


rule extract_features:
    input:
        "results/build_windows/{dataset}/windows",
        "gesturegen/__init__.py",
        "gesturegen/compute.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/records.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/features/__init__.py",
        "gesturegen/features/audio.py",
        "gesturegen/features/common.py",
        "gesturegen/features/data2vec.py",
        "gesturegen/features/encoders.py",
        "gesturegen/features/store.py",
        "gesturegen/features/text.py",
        "gesturegen/io.py",
        "stages/__init__.py",
        "stages/extract_features.py",
    output:
        features=update(directory("results/extract_features/{dataset}/features")),
        report=update("results/extract_features/{dataset}/report.json"),
        metrics=update("results/extract_features/{dataset}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        extract_features=config["extract_features"],
    resources:
        **RESOURCES["extract_features"],
    log:
        "logs/extract_features/{dataset}.log",
    threads: PARAMS.compute.threads_for("extract_features")
    # first among the jobs ready after build_windows: extract_features -> train_sync_evaluator is the longest chain
    # before evaluate_baselines (demo, 1 thread: 50 + 24 s, against train_fgd_encoder's 42 s and train_oracles' 27 s)
    priority: 10
    conda:
        ENV
    shell:
        "python -m stages.extract_features --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--out-dir results/extract_features/{wildcards.dataset} 2>&1 | tee {log}"


rule train_fgd_encoder:
    input:
        "results/build_windows/{dataset}/windows",
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
        "gesturegen/compute.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/datasets.py",
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
        "gesturegen/systems/__init__.py",
        "gesturegen/systems/fgd_system.py",
        "gesturegen/training.py",
        "stages/__init__.py",
        "stages/train_fgd_encoder.py",
    output:
        encoder=update(directory("results/train_fgd_encoder/{dataset}/encoder")),
        report=update("results/train_fgd_encoder/{dataset}/report.json"),
        loss=update("results/train_fgd_encoder/{dataset}/loss.csv"),
        metrics=update("results/train_fgd_encoder/{dataset}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        train_fgd_encoder=config["train_fgd_encoder"],
    resources:
        **RESOURCES["train_fgd_encoder"],
    log:
        "logs/train_fgd_encoder/{dataset}.log",
    threads: PARAMS.compute.threads_for("train_fgd_encoder")
    conda:
        ENV
    shell:
        "python -m stages.train_fgd_encoder --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--out-dir results/train_fgd_encoder/{wildcards.dataset} 2>&1 | tee {log}"
