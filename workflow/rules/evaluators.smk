# Trained evaluators: the speech <-> motion sync evaluator and the demo oracles. Mirrors the same stages in dvc.yaml
# (the commands are identical up to " 2>&1 | tee {log}", which only keeps a log of what you see).


rule train_sync_evaluator:
    input:
        "results/build_windows/{dataset}/windows",
        "results/extract_features/{dataset}/features",
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
        "gesturegen/compute.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/records.py",
        "gesturegen/data/skeleton.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/distributed.py",
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
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/models/sync_evaluator.py",
        "gesturegen/systems/__init__.py",
        "gesturegen/systems/sync_system.py",
        "gesturegen/training.py",
        "stages/__init__.py",
        "stages/train_sync_evaluator.py",
    output:
        evaluator=update(directory("results/train_sync_evaluator/{dataset}/evaluator")),
        report=update("results/train_sync_evaluator/{dataset}/report.json"),
        loss=update("results/train_sync_evaluator/{dataset}/loss.csv"),
        metrics=update("results/train_sync_evaluator/{dataset}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        train_sync_evaluator=config["train_sync_evaluator"],
    resources:
        **RESOURCES["train_sync_evaluator"],
    log:
        "logs/train_sync_evaluator/{dataset}.log",
    threads: PARAMS.compute.threads_for("train_sync_evaluator")
    priority: 10                     # on the longest chain before evaluate_baselines (see extract_features)
    conda:
        ENV
    shell:
        "python -m stages.train_sync_evaluator --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--features results/extract_features/{wildcards.dataset}/features "
        "--out-dir results/train_sync_evaluator/{wildcards.dataset} 2>&1 | tee {log}"


rule train_oracles:
    input:
        "results/build_windows/{dataset}/windows",
        "gesturegen/__init__.py",
        "gesturegen/compute.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/annotations.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/distributed.py",
        "gesturegen/io.py",
        "gesturegen/models/__init__.py",
        "gesturegen/models/checkpoint.py",
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/models/oracles.py",
        "gesturegen/models/sync_evaluator.py",
        "gesturegen/systems/__init__.py",
        "gesturegen/systems/classifier_system.py",
        "gesturegen/training.py",
        "stages/__init__.py",
        "stages/train_oracles.py",
    output:
        oracles=update(directory("results/train_oracles/{dataset}/oracles")),
        report=update("results/train_oracles/{dataset}/report.json"),
        history=update("results/train_oracles/{dataset}/history.csv"),
        metrics=update("results/train_oracles/{dataset}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        train_oracles=config["train_oracles"],
    resources:
        **RESOURCES["train_oracles"],
    log:
        "logs/train_oracles/{dataset}.log",
    threads: PARAMS.compute.threads_for("train_oracles")
    conda:
        ENV
    shell:
        "python -m stages.train_oracles --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--out-dir results/train_oracles/{wildcards.dataset} 2>&1 | tee {log}"
