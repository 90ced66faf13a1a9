"""spillover."""
