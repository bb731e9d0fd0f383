"""Records management for master batch records and batches.

Everything a batch records is written by its actions: here the records are read, linked to
one another, and moved on only by admin actions calling the same services as the API (a
signing action asks for the password and shows the meaning). Content changes are possible
only where the API allows them: an MBR while draft (through its service, so its JSON is
validated), a batch's lot number and production line while pending.
"""

from . import batch, execution, mbr, qms_links  # noqa: F401  (registers the admin pages)
