"""A tiny endpoint that uses the real ``@idempotent`` decorator, for its tests.

It writes a real row (an audit event) per effect, so the tests can count effects; ``refuse``
writes first and then refuses, to prove that a refusal leaves nothing behind.
"""

import time

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.audit.models import AuditEvent
from creatornext.audit.services import audit_record
from creatornext.core.api import ApiError
from creatornext.core.idempotency import idempotent


class EffectApi(APIView):
    @idempotent
    def post(self, request):
        event = audit_record(actor=request.user, action="test.effect", obj=request.user,
                             after={"note": request.data.get("note")})
        if request.data.get("slow"):
            time.sleep(0.3)  # widen the window in which duplicates arrive
        if request.data.get("refuse"):
            raise ApiError(409, "invalid_state", "Refused after writing.")
        if request.data.get("bad"):
            return Response({"error": {"code": "invalid", "message": "bad", "fields": {}}}, status=400)
        return Response({"id": event.pk, "effects": AuditEvent.objects.filter(action="test.effect").count(),
                         "at": event.created_at}, status=201)


class OtherEffectApi(EffectApi):
    pass


class ObjectEffectApi(APIView):
    """An endpoint acting on an object named in the path (as /collaborations/<id>/approve/)."""

    @idempotent
    def post(self, request, thing_id: int):
        event = audit_record(actor=request.user, action="test.effect", obj=request.user, after={"thing": thing_id})
        return Response({"id": event.pk, "thing": thing_id}, status=201)


urlpatterns = [
    path("api/v1/", include(([path("effect/", EffectApi.as_view(), name="effect"),
                              path("other-effect/", OtherEffectApi.as_view(), name="other-effect"),
                              path("things/<int:thing_id>/effect/", ObjectEffectApi.as_view(),
                                   name="thing-effect")],
                             "api"), namespace="api")),
]
