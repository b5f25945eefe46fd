# Conditioning features and the FGD feature extractor. Mirrors the same stages in dvc.yaml
# (the commands are identical up to " 2>&1 | tee {log}", which only keeps a log of what you see).


rule extract_features:
    input:
        "results/build_windows/{dataset}/windows",
        "stages/extract_features.py",
        "gesturegen/features/__init__.py",
        "gesturegen/features/audio.py",
        "gesturegen/features/text.py",
        "gesturegen/features/data2vec.py",
    output:
        features=directory("results/extract_features/{dataset}/features"),
        metrics="results/extract_features/{dataset}/metrics.json",
    params:
        seed=config["seed"],
        extract_features=config["extract_features"],
    log:
        "logs/extract_features/{dataset}.log",
    threads: 2
    conda:
        ENV
    shell:
        "python -m stages.extract_features --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--out-dir results/extract_features/{wildcards.dataset} 2>&1 | tee {log}"


rule train_fgd_encoder:
    input:
        "results/build_windows/{dataset}/windows",
        "stages/train_fgd_encoder.py",
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/systems/fgd_system.py",
        "gesturegen/metrics/__init__.py",
        "gesturegen/metrics/fgd.py",
        "gesturegen/metrics/diversity.py",
        "gesturegen/metrics/beat.py",
        "gesturegen/metrics/motion.py",
    output:
        encoder=directory("results/train_fgd_encoder/{dataset}/encoder"),
        loss="results/train_fgd_encoder/{dataset}/loss.csv",
        metrics="results/train_fgd_encoder/{dataset}/metrics.json",
    params:
        seed=config["seed"],
        train_fgd_encoder=config["train_fgd_encoder"],
    log:
        "logs/train_fgd_encoder/{dataset}.log",
    threads: 2
    conda:
        ENV
    shell:
        "python -m stages.train_fgd_encoder --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--out-dir results/train_fgd_encoder/{wildcards.dataset} 2>&1 | tee {log}"
