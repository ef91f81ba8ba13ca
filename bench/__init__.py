"""The preview-scaling benchmark (`python -m bench`); see bench/README.md."""
