"""LightningModules: which models interact, their losses, optimisers and logging (no files, no argparse)."""
