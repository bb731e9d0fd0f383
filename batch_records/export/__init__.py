"""The executed batch record as one document, in JSON and in print (PDF).

EU GMP Annex 11 §8.2 asks for clear printed copies of electronically stored data, and
21 CFR 11.10(b) for accurate and complete copies in human readable and electronic form.

- `document`: what the record holds, as a dict of JSON values (the JSON export), read by
  `reading` (the batch, its children and signatures in a fixed number of queries) and
  `trail` (the audit trail and the corrections of recorded values);
- `printed`: what the printed copy says, as plain data (headings, label/value lists,
  tables of text), made from that same dict, so both forms always say the same thing;
- `pdf`: the ReportLab layout of the printed copy.
"""

from .document import FORMAT_VERSION, build_batch_export
from .pdf import render_batch_export_pdf
from .reading import export_filename, release_state

__all__ = ["FORMAT_VERSION", "build_batch_export", "export_filename", "release_state", "render_batch_export_pdf"]
