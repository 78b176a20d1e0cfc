"""Eligibility API (API.md, Eligibility; and the metrics feed of Accounts): one view per endpoint."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.accounts.api import require_creator
from creatornext.accounts.models import CreatorProfile, User
from creatornext.accounts.permissions import IsStaffWithTwoFactor
from creatornext.accounts.selectors import creator_by_handle
from creatornext.core.api import StrictInputSerializer
from eligibility import selectors, services
from eligibility.models import Enrollment, MetricsSnapshot, RequirementKey

STATUSES = ["not_eligible", "eligible", Enrollment.Status.ENROLLED, Enrollment.Status.PAUSED,
            Enrollment.Status.REVOKED]
PROGRAM_PARAMETER = OpenApiParameter(
    "program", str, OpenApiParameter.PATH,
    description="Program slug: creator-next, tips, video-gifts, live-gifts, marketplace.")


class EligibilityOutput(serializers.Serializer):
    """One program, as API.md's eligibility item (plus context fields)."""

    class RequirementOutput(serializers.Serializer):
        key = serializers.ChoiceField(choices=RequirementKey.values)
        met = serializers.BooleanField()
        current = serializers.JSONField(
            help_text="The creator's value: an integer (count, years, days; for recent_public_post the "
                      "days since the last public post), a string (standing, account type), a boolean, "
                      "or null when unknown.")
        # DRF's metaclass moves declared fields off the class, so this does not shadow Field.required.
        required = serializers.JSONField(  # type: ignore[assignment]
            help_text="The requirement: a minimum (at_least), a maximum (at_most), the allowed values "
                      "(one_of) or the value needed (equals).")
        comparison = serializers.ChoiceField(
            choices=["at_least", "at_most", "one_of", "equals"],
            help_text="How current is compared with required (at_most: days since the last public post).")

    program = serializers.CharField()
    name = serializers.CharField()
    eligible = serializers.BooleanField(help_text="Every requirement holds (or staff granted the program).")
    status = serializers.ChoiceField(choices=STATUSES)
    terms_version = serializers.CharField(allow_null=True, help_text="The current terms version.")
    accepted_terms_version = serializers.CharField(allow_null=True)
    staff_granted = serializers.BooleanField()
    opt_in_available_at = serializers.DateTimeField(
        allow_null=True, help_text="After a staff revocation: when opting in is possible again.")
    rules_version = serializers.IntegerField()
    requirements = RequirementOutput(many=True)


def _item(ps: selectors.ProgramStatus) -> dict:
    enrollment = ps.enrollment
    return {
        "program": ps.program.slug, "name": ps.program.name, "eligible": ps.outcome.eligible,
        "status": ps.status, "terms_version": ps.program.terms.version if ps.program.terms else None,
        "accepted_terms_version": (enrollment.terms_version or None) if enrollment else None,
        "staff_granted": bool(enrollment and enrollment.staff_granted),
        "opt_in_available_at": ps.opt_in_available_at, "rules_version": ps.program.rules_version,
        "requirements": [c.as_dict() for c in ps.outcome.checks],
    }


def _creator(request: Request) -> CreatorProfile:
    return require_creator(request, "Only creators have program eligibility.")


def _program_item(creator: CreatorProfile, program: str) -> dict:
    for ps in selectors.creator_eligibility(creator):
        if ps.program.slug == program:
            return _item(ps)
    raise Http404


class EligibilityListApi(APIView):
    @extend_schema(operation_id="eligibility_list", responses={200: EligibilityOutput(many=True)})
    def get(self, request: Request) -> Response:
        """My eligibility for every program, with each requirement's current and required value."""
        creator = _creator(request)
        items = [_item(ps) for ps in selectors.creator_eligibility(creator)]
        return Response(EligibilityOutput(items, many=True).data)


class ProgramOptInApi(APIView):
    class InputSerializer(StrictInputSerializer):
        terms_version = serializers.CharField(max_length=40,
                                              help_text="The current terms version, which you accept.")

    @extend_schema(operation_id="programs_opt_in", parameters=[PROGRAM_PARAMETER], request=InputSerializer,
                   responses={200: EligibilityOutput})
    def post(self, request: Request, program: str) -> Response:
        """Opt in while eligible, accepting the current terms (409 `not_eligible` lists what is missing;
        409 `invalid_state` for out-of-date terms or within the wait after a staff revocation)."""
        creator = _creator(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.enrollment_opt_in(creator=creator, program=program, actor=creator.user,
                                       **data.validated_data)
        except services.ProgramNotFound as exc:
            raise Http404 from exc
        except services.EligibilityError as exc:
            raise exc.api_error() from exc
        return Response(EligibilityOutput(_program_item(creator, program)).data)


class ProgramOptOutApi(APIView):
    @extend_schema(operation_id="programs_opt_out", parameters=[PROGRAM_PARAMETER], request=None,
                   responses={200: EligibilityOutput})
    def post(self, request: Request, program: str) -> Response:
        """Leave a program (always allowed; earnings are kept)."""
        creator = _creator(request)
        try:
            services.enrollment_opt_out(creator=creator, program=program, actor=creator.user)
        except services.ProgramNotFound as exc:
            raise Http404 from exc
        return Response(EligibilityOutput(_program_item(creator, program)).data)


class CreatorMetricsApi(APIView):
    permission_classes = [IsStaffWithTwoFactor]

    class InputSerializer(StrictInputSerializer):
        followers = serializers.IntegerField(min_value=0, max_value=services.MAX_BIG)
        views_30d = serializers.IntegerField(min_value=0, max_value=services.MAX_BIG)
        posts_30d = serializers.IntegerField(min_value=0, max_value=services.MAX_INT)
        account_created_at = serializers.DateTimeField()
        account_type = serializers.ChoiceField(choices=CreatorProfile.AccountType.values)
        standing = serializers.ChoiceField(choices=CreatorProfile.Standing.values)
        fraud_flag = serializers.BooleanField()
        last_public_post_at = serializers.DateTimeField(
            required=False, allow_null=True,
            help_text="The latest public post (for `recent_public_post`); left out: unchanged.")

    class OutputSerializer(serializers.Serializer):
        class ChangeOutput(serializers.Serializer):
            program = serializers.CharField()
            status = serializers.ChoiceField(choices=[Enrollment.Status.ENROLLED, Enrollment.Status.PAUSED])

        handle = serializers.CharField()
        followers = serializers.IntegerField()
        views_30d = serializers.IntegerField()
        posts_30d = serializers.IntegerField()
        account_created_at = serializers.DateTimeField(allow_null=True)
        account_type = serializers.ChoiceField(choices=CreatorProfile.AccountType.values)
        standing = serializers.ChoiceField(choices=CreatorProfile.Standing.values)
        fraud_flag = serializers.BooleanField()
        last_public_post_at = serializers.DateTimeField(allow_null=True)
        metrics_updated_at = serializers.DateTimeField(allow_null=True)
        changed = serializers.BooleanField(help_text="False when the creator already had these values.")
        program_changes = ChangeOutput(many=True, help_text="Programs paused or resumed by this change.")

    @extend_schema(operation_id="creators_metrics_update", request=InputSerializer,
                   responses={200: OutputSerializer})
    def put(self, request: Request, handle: str) -> Response:
        """Metrics feed (staff): record a creator's metrics; kept in the history and re-evaluated."""
        creator = creator_by_handle(handle)
        if creator is None:
            raise Http404
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assert isinstance(request.user, User)
        result = services.metrics_update(creator=creator, actor=request.user,
                                         source=MetricsSnapshot.Source.API, **data.validated_data)
        body = {**{f: getattr(result.creator, f) for f in (*services.METRIC_FIELDS, "metrics_updated_at")},
                "handle": result.creator.handle, "changed": result.snapshot is not None,
                "program_changes": [{"program": o.program.slug, "status": o.new_status}
                                    for o in result.changes]}
        return Response(self.OutputSerializer(body).data)
