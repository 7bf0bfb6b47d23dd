"""Analysis jobs: what customers submit, their lifecycle, and their results."""
