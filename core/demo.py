"""Demo batches for `seed_demo --batches N` (filled in once batch execution exists)."""


def create_demo_batches(count, *, site, product_line):
    return []
