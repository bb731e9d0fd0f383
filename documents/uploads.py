"""What a document upload may be: the allowed types (PDF, images, office formats) and the
size limit (EBR_UPLOAD_MAX_MB). A type is accepted only when the file name's extension,
the declared content type and the file's first bytes all agree."""

import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

OLE2 = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)  # legacy Office (doc, xls, ppt)
ZIP = (b"PK\x03\x04",)  # Office Open XML and OpenDocument are zip packages


def _ooxml(upload):
    return _zip_has(upload, "[Content_Types].xml")


def _opendocument(upload):
    return _zip_has(upload, "mimetype")


def _zip_has(upload, member):
    try:
        upload.seek(0)
        with zipfile.ZipFile(upload) as package:
            return member in package.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    finally:
        upload.seek(0)


# extension: (content types, leading bytes, package check)
ALLOWED_TYPES = {
    "pdf": ({"application/pdf"}, (b"%PDF-",), None),
    "png": ({"image/png"}, (b"\x89PNG\r\n\x1a\n",), None),
    "jpg": ({"image/jpeg"}, (b"\xff\xd8\xff",), None),
    "jpeg": ({"image/jpeg"}, (b"\xff\xd8\xff",), None),
    "tif": ({"image/tiff"}, (b"II*\x00", b"MM\x00*"), None),
    "tiff": ({"image/tiff"}, (b"II*\x00", b"MM\x00*"), None),
    "doc": ({"application/msword"}, OLE2, None),
    "xls": ({"application/vnd.ms-excel"}, OLE2, None),
    "ppt": ({"application/vnd.ms-powerpoint"}, OLE2, None),
    "docx": ({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}, ZIP, _ooxml),
    "xlsx": ({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, ZIP, _ooxml),
    "pptx": ({"application/vnd.openxmlformats-officedocument.presentationml.presentation"}, ZIP, _ooxml),
    "odt": ({"application/vnd.oasis.opendocument.text"}, ZIP, _opendocument),
    "ods": ({"application/vnd.oasis.opendocument.spreadsheet"}, ZIP, _opendocument),
}


def max_upload_bytes():
    return settings.EBR_UPLOAD_MAX_BYTES


def too_large_message(size):
    limit = max_upload_bytes()
    return f"The file is {size} bytes; at most {limit} bytes ({limit / (1024 * 1024):g} MB) are accepted."


def _new_upload(value):
    """The uploaded file behind `value`, or None for a file already stored (kept as it was
    accepted)."""
    if isinstance(value, UploadedFile):
        return value
    if getattr(value, "_committed", True) is False and isinstance(getattr(value, "file", None), UploadedFile):
        return value.file
    return None


def validate_document_file(value):
    """Model field validator (API and admin alike): an allowed type within the size limit."""
    upload = _new_upload(value)
    if upload is None:
        return
    if upload.size > max_upload_bytes():
        raise ValidationError(too_large_message(upload.size), code="too_large")
    name = upload.name or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = ", ".join(sorted(ALLOWED_TYPES))
    if extension not in ALLOWED_TYPES:
        raise ValidationError(f"Files of type '.{extension}' are not accepted; allowed: {allowed}.", code="file_type")
    content_types, signatures, package_check = ALLOWED_TYPES[extension]
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared not in content_types:
        raise ValidationError(
            f"A .{extension} file must be sent as {' or '.join(sorted(content_types))}, not '{declared}'.",
            code="file_type",
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not head.startswith(signatures) or (package_check is not None and not package_check(upload)):
        raise ValidationError(f"The content of the file is not a .{extension} file.", code="file_type")
