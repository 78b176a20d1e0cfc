"""The creator's eligibility page: a card per program, progress bars, opt-in/opt-out with the terms."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from creatornext.accounts.models import User
from eligibility import presentation, selectors, services

STATUS_LABELS = {
    "enrolled": "Enrolled",
    "paused": "Paused",
    "revoked": "Removed by staff",
    "eligible": "Eligible",
    "not_eligible": "Not eligible yet",
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


@login_required
def eligibility_page(request: HttpRequest) -> HttpResponse:
    creator = selectors.creator_of(_user(request))
    if creator is None:
        return render(request, "eligibility/not_a_creator.html")
    cards = []
    for ps in selectors.creator_eligibility(creator):
        cards.append({
            "ps": ps, "program": ps.program, "status": ps.status,
            "status_label": STATUS_LABELS[ps.status], "enrollment": ps.enrollment,
            "requirements": [presentation.view(c, ps.facts) for c in ps.outcome.checks],
            "show_opt_in": ps.can_opt_in or ps.terms_outdated,
            "show_opt_out": ps.status in ("enrolled", "paused"),
        })
    return render(request, "eligibility/page.html", {"creator": creator, "cards": cards})


def _back(program: str) -> HttpResponse:
    return redirect(reverse("eligibility") + f"#program-{program}")


@login_required
@require_POST
def opt_in(request: HttpRequest, program: str) -> HttpResponse:
    creator = selectors.creator_of(_user(request))
    if creator is None:
        raise Http404
    if request.POST.get("accept") != "yes":
        messages.error(request, "Tick the box to accept the terms before opting in.")
        return _back(program)
    try:
        enrollment = services.enrollment_opt_in(
            creator=creator, program=program, actor=creator.user,
            terms_version=request.POST.get("terms_version", ""))
    except services.ProgramNotFound as exc:
        raise Http404 from exc
    except services.EligibilityError as exc:
        messages.error(request, exc.message)
        return _back(program)
    messages.success(request, f"You joined {enrollment.program.name}.")
    return _back(program)


@login_required
@require_POST
def opt_out(request: HttpRequest, program: str) -> HttpResponse:
    creator = selectors.creator_of(_user(request))
    if creator is None:
        raise Http404
    try:
        enrollment = services.enrollment_opt_out(creator=creator, program=program, actor=creator.user)
    except services.ProgramNotFound as exc:
        raise Http404 from exc
    if enrollment is not None:
        messages.success(request, f"You left {enrollment.program.name}. What you earned is yours.")
    return _back(program)
