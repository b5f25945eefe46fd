# Data stages: the demo dataset, raw conversion and windowing. Mirrors the same stages in dvc.yaml
# (the commands are identical up to " 2>&1 | tee {log}", which only keeps a log of what you see).


rule make_demo_data:
    input:
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/annotations.py",
        "gesturegen/data/demo/__init__.py",
        "gesturegen/data/demo/body.py",
        "gesturegen/data/demo/checks.py",
        "gesturegen/data/demo/clips.py",
        "gesturegen/data/demo/gestures.py",
        "gesturegen/data/demo/logmel.py",
        "gesturegen/data/demo/sentences.py",
        "gesturegen/data/demo/speakers.py",
        "gesturegen/data/filters.py",
        "gesturegen/data/lmdbfile.py",
        "gesturegen/data/rawformat.py",
        "gesturegen/data/records.py",
        "gesturegen/data/skeleton.py",
        "gesturegen/data/speech.py",
        "gesturegen/io.py",
        "gesturegen/numerics.py",
        "gesturegen/plots.py",
        "stages/__init__.py",
        "stages/make_demo_data.py",
    output:
        raw=[update(f) for f in expand("data/demo/{split}/{file}", split=SPLITS, file=RAW_FILES)],
        report=update("results/make_demo_data/report.json"),
        metrics=update("results/make_demo_data/metrics.json"),
        plot=update("results/make_demo_data/clip.png"),
    params:
        seed=config["seed"],
        make_demo_data=config["make_demo_data"],
    resources:
        **RESOURCES["make_demo_data"],
    log:
        "logs/make_demo_data.log",
    # its worker processes are one per CPU it may use (not a param: the data is the same for any count); it is the
    # DAG's first job, so it claims compute.threads cores
    threads: PARAMS.compute.threads
    conda:
        ENV
    shell:
        "python -m stages.make_demo_data --out data/demo --report-dir results/make_demo_data 2>&1 | tee {log}"


rule convert_raw:
    input:
        expand("data/{{dataset}}/{split}/data.mdb", split=SPLITS),
        "envs/legacy.txt",
        "gesturegen/__init__.py",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/legacy.py",
        "gesturegen/data/legacy_env.py",
        "gesturegen/data/legacy_worker.py",
        "gesturegen/data/lmdbfile.py",
        "gesturegen/data/rawformat.py",
        "gesturegen/data/records.py",
        "gesturegen/io.py",
        "stages/__init__.py",
        "stages/convert_raw.py",
    output:
        raw=update(directory("results/convert_raw/{dataset}/raw")),
        report=update("results/convert_raw/{dataset}/report.json"),
        metrics=update("results/convert_raw/{dataset}/metrics.json"),
    params:
        convert_raw=config["convert_raw"],
        data_sources=lambda w: config["data_sources"][w.dataset],
    resources:
        **RESOURCES["convert_raw"],
    log:
        "logs/convert_raw/{dataset}.log",
    conda:
        ENV
    shell:
        "python -m stages.convert_raw --dataset {wildcards.dataset} --src data/{wildcards.dataset} "
        "--out-dir results/convert_raw/{wildcards.dataset} 2>&1 | tee {log}"


rule build_windows:
    input:
        "results/convert_raw/{dataset}/raw",
        "gesturegen/__init__.py",
        "gesturegen/assets/__init__.py",
        "gesturegen/assets/aqgt_means.json",
        "gesturegen/assets/ted_expressive_means.json",
        "gesturegen/config.py",
        "gesturegen/data/__init__.py",
        "gesturegen/data/annotations.py",
        "gesturegen/data/filters.py",
        "gesturegen/data/lmdbfile.py",
        "gesturegen/data/normalize.py",
        "gesturegen/data/rawformat.py",
        "gesturegen/data/records.py",
        "gesturegen/data/skeleton.py",
        "gesturegen/data/windows.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/io.py",
        "gesturegen/numerics.py",
        "stages/__init__.py",
        "stages/build_windows.py",
    output:
        windows=update(directory("results/build_windows/{dataset}/windows")),
        report=update("results/build_windows/{dataset}/report.json"),
        metrics=update("results/build_windows/{dataset}/metrics.json"),
    params:
        build_windows=config["build_windows"],
        data_sources=lambda w: config["data_sources"][w.dataset],
    resources:
        **RESOURCES["build_windows"],
    log:
        "logs/build_windows/{dataset}.log",
    conda:
        ENV
    shell:
        "python -m stages.build_windows --dataset {wildcards.dataset} "
        "--raw results/convert_raw/{wildcards.dataset}/raw --out-dir results/build_windows/{wildcards.dataset}"
        " 2>&1 | tee {log}"
