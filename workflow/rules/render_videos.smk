# The videos of the default run, one job per dataset (params section `render_videos`). Mirrors the same stage in
# dvc.yaml (foreach over datasets).


rule render_videos:
    input:
        "results/convert_raw/{dataset}/raw",
        "results/build_windows/{dataset}/windows",
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
        "gesturegen/data/filters.py",
        "gesturegen/data/lmdbfile.py",
        "gesturegen/data/rawformat.py",
        "gesturegen/data/records.py",
        "gesturegen/data/skeleton.py",
        "gesturegen/data/windows.py",
        "gesturegen/data/windowstore.py",
        "gesturegen/distributed.py",
        "gesturegen/evaluation.py",
        "gesturegen/evaluators.py",
        "gesturegen/export/__init__.py",
        "gesturegen/export/bvh.py",
        "gesturegen/features/__init__.py",
        "gesturegen/features/audio.py",
        "gesturegen/features/common.py",
        "gesturegen/features/data2vec.py",
        "gesturegen/features/encoders.py",
        "gesturegen/features/store.py",
        "gesturegen/features/text.py",
        "gesturegen/generate.py",
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
        "gesturegen/numerics.py",
        "gesturegen/plots.py",
        "gesturegen/recording.py",
        "gesturegen/render.py",
        "gesturegen/style.py",
        "gesturegen/summary.py",
        "gesturegen/systems/__init__.py",
        "gesturegen/systems/diffusion_system.py",
        "gesturegen/training.py",
        "stages/__init__.py",
        "stages/diffusion.py",
        "stages/render_videos.py",
    output:
        videos=update(directory("results/render_videos/{dataset}/videos")),
        posters=update(directory("results/render_videos/{dataset}/posters")),
        report=update("results/render_videos/{dataset}/report.json"),
        metrics=update("results/render_videos/{dataset}/metrics.json"),
    params:
        seed=config["seed"],
        compute=config["compute"],
        data_sources=lambda w: config["data_sources"][w.dataset],
        build_windows=config["build_windows"],
        extract_features=config["extract_features"],
        diffusion=config["diffusion"],
        render_videos=config["render_videos"],
    resources:
        **RESOURCES["render_videos"],
    log:
        "logs/render_videos/{dataset}.log",
    threads: PARAMS.compute.threads_for("render_videos")
    conda:
        ENV
    shell:
        "python -m stages.render_videos --dataset {wildcards.dataset} "
        "--raw results/convert_raw/{wildcards.dataset}/raw "
        "--windows results/build_windows/{wildcards.dataset}/windows "
        "--diffusion results/diffusion/{wildcards.dataset}-{{part}}/model "
        "--out-dir results/render_videos/{wildcards.dataset} 2>&1 | tee {log}"
