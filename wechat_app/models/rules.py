"""Reply rules stored in the database (webot semantics; compiled by ``engine`` into an index)."""
from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from ..engine.spec import MatchKind, RuleSpecError, validate_match, validate_replies


class Rule(models.Model):
    """A match condition and its reply, with optional follow-up rules.

    Top-level rules have no ``parent``; follow-up rules (webot ``replies``) point at the rule
    whose reply opens the conversation, and only apply to that user's next message.
    Precedence: a pending follow-up first; then higher ``priority``; then ``position``
    (the order rules were defined); ``default`` rules last.
    """

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="rules",
                                verbose_name=_("account"))
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="follow_ups", verbose_name=_("follow-up of"))
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher runs first."))
    position = models.PositiveIntegerField(_("position"), null=True, blank=True, editable=False,
                                           help_text=_("Definition order; ties of priority run in it."))
    enabled = models.BooleanField(_("enabled"), default=True)

    match_kind = models.CharField(_("match"), max_length=16, choices=MatchKind.choices(), default=MatchKind.CONTAINS)
    match_value = models.CharField(_("match value"), max_length=1024, blank=True,
                                   help_text=_("Keyword, text, regular expression, event name or message type."))
    match_key = models.CharField(_("event key"), max_length=255, blank=True,
                                 help_text=_("For event rules: the EventKey to match (empty: any key)."))
    match_flags = models.CharField(_("regex flags"), max_length=8, blank=True,
                                   help_text=_("For regex rules: any of i (ignore case), m, s, x."))

    replies = models.JSONField(_("replies"), default=list, blank=True,
                               help_text=_("One reply, or several of which one is picked at random."))
    no_reply = models.BooleanField(_("no reply"), default=False,
                                   help_text=_("Match and answer nothing (webot noReply)."))

    follow_up_timeout = models.PositiveIntegerField(
        _("follow-up timeout (s)"), null=True, blank=True,
        help_text=_("How long follow-up rules wait for the user's next message (default from settings)."))
    follow_up_retries = models.PositiveSmallIntegerField(
        _("follow-up retries"), default=0,
        help_text=_("How many times the question is asked again when no follow-up rule matches."))

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "-priority", "position", "id"]
        verbose_name = _("reply rule")
        verbose_name_plural = _("reply rules")
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="wechat_rule_unique_name_per_account"),
        ]
        indexes = [models.Index(fields=["account", "enabled"], name="wechat_rule_account_enabled")]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        errors = {}
        try:
            validate_match(self.match_kind, self.match_value, self.match_key, self.match_flags)
        except RuleSpecError as err:
            errors[err.field or "match_value"] = str(err)
        try:
            validate_replies(self.replies, self.no_reply)
        except RuleSpecError as err:
            errors["replies"] = str(err)
        try:
            self.clean_parent()
        except ValidationError as err:
            # Not keyed "parent": the admin's forms never edit it (a ModelForm raises ValueError
            # for an error on a field it does not have); the REST API names the field itself.
            errors[NON_FIELD_ERRORS] = err.messages
        if errors:
            raise ValidationError(errors)

    def clean_parent(self):
        """Refuse a parent in another account, a cycle, or follow-ups deeper than ``RULE_MAX_DEPTH``.

        Every walk is bounded by the limit (one query per level), so rows already in a cycle
        cannot make it spin.
        """
        from ..conf import app_settings

        if self.parent_id is None:
            return
        if self.parent.account_id != self.account_id:
            raise ValidationError(_("A follow-up rule belongs to the same account as its parent."))
        limit = app_settings.RULE_MAX_DEPTH
        too_deep = ValidationError(_("Follow-up rules nest at most %(limit)d levels deep (a top-level rule is "
                                     "level 1).") % {"limit": limit})
        depth, ancestor = 1, self.parent_id  # depth: of this rule, counting the ancestors seen so far
        while ancestor is not None:
            if ancestor == self.pk:
                raise ValidationError(_("A rule cannot be a follow-up of itself or of one of its own follow-ups."))
            depth += 1
            if depth > limit:
                raise too_deep
            ancestor = Rule.objects.filter(pk=ancestor).values_list("parent_id", flat=True).first()
        if self.pk is not None:  # the rule's own follow-ups move down with it
            seen, level = {self.pk}, [self.pk]
            while level:
                level = [pk for pk in Rule.objects.filter(parent_id__in=level).values_list("pk", flat=True)
                         if pk not in seen]
                seen.update(level)
                if level:
                    depth += 1
                    if depth > limit:
                        raise too_deep

    def save(self, *args, **kwargs):
        if self.position is None:
            last = Rule.objects.filter(account_id=self.account_id).aggregate(m=Max("position"))["m"]
            self.position = (last or 0) + 1
        super().save(*args, **kwargs)
