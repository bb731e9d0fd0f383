"""Business actions on master batch records and batches: one module per area."""
