"""SPEC §6: an OpenAPI 3 schema that generates without warnings and validates."""

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate


def test_schema_generates_without_warnings_and_validates(tmp_path, capsys):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert "/api/auth/login/" in schema["paths"]


@pytest.mark.django_db
def test_schema_and_swagger_ui_are_served(operator, api_client_for):
    client = api_client_for(operator)
    assert client.get("/api/schema/").status_code == 200
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
