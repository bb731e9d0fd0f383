from django.contrib.auth import password_validation
from rest_framework import serializers

from core.api.serializers import StrictFieldsMixin
from users.models import ProductLine, Site, User


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name"]


class ProductLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductLine
        fields = ["id", "code", "name"]


class UserSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(source="get_full_name", read_only=True)
    groups = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    sites = SiteSerializer(many=True, read_only=True)
    product_lines = ProductLineSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "is_active",
            "groups",
            "sites",
            "product_lines",
            "last_login",
        ]
        read_only_fields = fields


class LoginSerializer(StrictFieldsMixin, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField()
    user = UserSerializer()


class PasswordChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    old_password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    new_password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})

    def validate_new_password(self, value):
        password_validation.validate_password(value, self.context["request"].user)
        return value
