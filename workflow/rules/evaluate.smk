# Evaluation. Mirrors the same stages in dvc.yaml
# (the commands are identical up to " 2>&1 | tee {log}", which only keeps a log of what you see).


rule evaluate_baselines:
    input:
        "results/build_windows/{dataset}/windows",
        "results/train_fgd_encoder/{dataset}/encoder",
        "stages/evaluate_baselines.py",
        "gesturegen/evaluation.py",
        "gesturegen/metrics/__init__.py",
        "gesturegen/metrics/fgd.py",
        "gesturegen/metrics/diversity.py",
        "gesturegen/metrics/beat.py",
        "gesturegen/metrics/motion.py",
        "gesturegen/models/fgd_encoder.py",
    output:
        constants="results/evaluate_baselines/{dataset}/beat_constants.json",
        runs="results/evaluate_baselines/{dataset}/runs.csv",
        plot="results/evaluate_baselines/{dataset}/controls.png",
        metrics="results/evaluate_baselines/{dataset}/metrics.json",
    params:
        seed=config["seed"],
        evaluate_baselines=config["evaluate_baselines"],
    log:
        "logs/evaluate_baselines/{dataset}.log",
    threads: 2
    conda:
        ENV
    shell:
        "python -m stages.evaluate_baselines --dataset {wildcards.dataset} "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--encoder results/train_fgd_encoder/{wildcards.dataset}/encoder "
        "--out-dir results/evaluate_baselines/{wildcards.dataset} 2>&1 | tee {log}"
