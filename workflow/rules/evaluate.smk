# Evaluation. Mirrors the same stages in dvc.yaml
# (the commands are identical up to " 2>&1 | tee {log}", which only keeps a log of what you see).


rule evaluate_baselines:
    input:
        "results/build_windows/{dataset}/windows",
        "results/train_fgd_encoder/{dataset}/encoder",
        "results/extract_features/{dataset}/features",
        "results/train_sync_evaluator/{dataset}/evaluator",
        "results/train_oracles/{dataset}/oracles",
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
        "gesturegen/models/fgd_encoder.py",
        "gesturegen/models/oracles.py",
        "gesturegen/models/sync_evaluator.py",
        "gesturegen/plots.py",
        "gesturegen/summary.py",
        "stages/__init__.py",
        "stages/evaluate_baselines.py",
    output:
        constants=update("results/evaluate_baselines/{dataset}/beat_constants.json"),
        runs=update("results/evaluate_baselines/{dataset}/runs.csv"),
        summary=update("results/evaluate_baselines/{dataset}/summary.csv"),
        report=update("results/evaluate_baselines/{dataset}/report.json"),
        plot=update("results/evaluate_baselines/{dataset}/controls.png"),
        metrics=update("results/evaluate_baselines/{dataset}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        evaluate_baselines=config["evaluate_baselines"],
    resources:
        **RESOURCES["evaluate_baselines"],
    log:
        "logs/evaluate_baselines/{dataset}.log",
    threads: PARAMS.compute.threads_for("evaluate_baselines")
    conda:
        ENV
    shell:
        "python -m stages.evaluate_baselines --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--encoder results/train_fgd_encoder/{wildcards.dataset}/encoder "
        "--features results/extract_features/{wildcards.dataset}/features "
        "--sync results/train_sync_evaluator/{wildcards.dataset}/evaluator "
        "--oracles results/train_oracles/{wildcards.dataset}/oracles "
        "--out-dir results/evaluate_baselines/{wildcards.dataset} 2>&1 | tee {log}"
