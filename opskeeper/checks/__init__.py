"""Health and security checks: collected facts in, results and findings out."""
