"""Who publishes the connector: the facts a certification submission names (`info.contact`, the website, privacy
policy and categories of `x-ms-connector-metadata`, `publisher` and `stackOwner`), which only the publisher can
give. The checked-in connector names none (each organisation imports it as its own custom connector); a release
build (`python -m availability.openapi --release`) takes them as options and refuses any that is missing or still
reads like a placeholder."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CATEGORIES", "Publisher"]

# The categories certified connectors use (the fixed list of the submission form).
CATEGORIES = ("AI", "Business Intelligence", "Business Management", "Collaboration", "Commerce", "Communication",
              "Content and Files", "Data", "Finance", "Human Resources", "Internet of Things", "IT Operations",
              "Lifestyle and Entertainment", "Marketing", "Productivity", "Sales and CRM", "Security",
              "Social Media", "Website")
# Sample organisations of Microsoft's documentation, reserved names (RFC 2606, RFC 6761) and the words of a
# template: facts no publisher would give.
_PLACEHOLDER = re.compile(r"contoso|fabrikam|northwind|adventure ?works|wingtip|example\.(com|net|org)\b|"
                          r"\.(example|invalid|test|localhost)\b|localhost|placeholder|publisher'?s name|your[ _-]|"
                          r"[<>{}]|\b(todo|tbd|xxx|n/?a)\b", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Publisher:
    """The publisher's facts, as the release build's options give them (None: not given)."""

    name: str | None = None
    stack_owner: str | None = None  # the owner of the service behind the connector; default: the publisher
    website: str | None = None
    privacy_policy: str | None = None
    support_email: str | None = None
    support_url: str | None = None  # the contact's URL; default: the website
    categories: tuple[str, ...] = ("Communication", "Sales and CRM")

    def problems(self) -> list[str]:
        """What keeps these facts out of a submission, each naming its option; empty when they can go."""
        found = []
        for option, value, kind in (("--publisher", self.name, "text"), ("--stack-owner", self.stack_owner, "text"),
                                    ("--website", self.website, "url"),
                                    ("--privacy-policy", self.privacy_policy, "url"),
                                    ("--support-email", self.support_email, "email"),
                                    ("--support-url", self.support_url, "url")):
            if value is None:
                if option not in ("--stack-owner", "--support-url"):
                    found.append(f"{option} is required for a release")
                continue
            if not value.strip():
                found.append(f"{option} is blank")
            elif _PLACEHOLDER.search(value):
                found.append(f"{option} '{value}' reads like a placeholder, not the publisher's own")
            elif kind == "url" and not re.fullmatch(r"https://[^\s/]+\.[^\s/]+(/\S*)?", value):
                found.append(f"{option} must be an https URL")
            elif kind == "email" and not _EMAIL.fullmatch(value):
                found.append(f"{option} must be an email address")
        unknown = [category for category in self.categories if category not in CATEGORIES]
        if unknown or not self.categories:
            found.append(f"--categories must be one or more of: {', '.join(CATEGORIES)}")
        return found

    def contact(self) -> dict[str, str]:
        """`info.contact` of the definition."""
        assert self.name and self.support_email and self.website
        return {"name": self.name, "url": self.support_url or self.website, "email": self.support_email}

    def metadata(self) -> list[dict[str, str]]:
        """`x-ms-connector-metadata` of the definition."""
        assert self.website and self.privacy_policy
        return [{"propertyName": "Website", "propertyValue": self.website},
                {"propertyName": "Privacy policy", "propertyValue": self.privacy_policy},
                {"propertyName": "Categories", "propertyValue": ";".join(self.categories)}]
