"""`?fields=a,b,c`: a GET answers only the named top-level fields (sparse fieldsets).

A tablet that shows a batch's header and status does not need its 1,000 steps: with
`?fields=id,batch_id,status,allowed_actions` the detail is a few hundred bytes, and the
children it leaves out are not read at all (a values() plan reads only the columns and
relations of the fields it keeps). Lists take it too. The steps themselves can be paged
from their own list route (`batch-steps/?batch=<id>&cursor=`).
"""

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

FIELDS_PARAM = "fields"


class SparseFieldsMixin:
    """For AuditedViewSet: `?fields=` on GET, on both the values() and the instance path."""

    def requested_fields(self):
        """The field names asked for (in the serializer's order), or None for all.

        Unknown names are a 400 that names them and lists what the resource shows."""
        # A viewset instance serves one request: read the parameter once.
        if not hasattr(self, "_requested_fields"):
            self._requested_fields = self._read_requested_fields()
        return self._requested_fields

    def _read_requested_fields(self):
        request = getattr(self, "request", None)
        if request is None or request.method not in ("GET", "HEAD"):
            return None
        raw = request.query_params.get(FIELDS_PARAM)
        if raw is None:
            return None
        asked = [name.strip() for name in raw.split(",") if name.strip()]
        readable = [name for name, field in self.get_serializer_class()().fields.items() if not field.write_only]
        unknown = [name for name in asked if name not in readable]
        if unknown or not asked:
            raise ValidationError(
                {
                    FIELDS_PARAM: [
                        f"Unknown field(s): {', '.join(unknown) or '(none given)'}. "
                        f"This resource shows: {', '.join(readable)}."
                    ]
                }
            )
        return tuple(name for name in readable if name in asked)

    def only_requested(self, plan):
        """A values() plan narrowed to the requested fields (the plan itself otherwise)."""
        if plan is None:
            return None
        fields = self.requested_fields()
        return plan if fields is None else plan.only(fields)

    def get_serializer(self, *args, **kwargs):
        return self.narrow(super().get_serializer(*args, **kwargs))

    def narrow(self, serializer):
        """`serializer` (or a list serializer's child) showing only the requested fields."""
        fields = self.requested_fields()
        if fields is not None:
            shown = serializer.child if isinstance(serializer, serializers.ListSerializer) else serializer
            for name in [name for name in shown.fields if name not in fields]:
                shown.fields.pop(name)
        return serializer
