"""The impulse's post and the copies of contributions, as every chat reads them."""

from __future__ import annotations

from bot.chat import Reply, about
from bot.render import Renderer
from bot.services.discussion import ContributionView, ImpulseView
from bot.text import paragraphs as markdown_paragraphs

PLATFORM_NAMES = {"telegram": "Telegram", "matrix": "Matrix", "console": "Console"}


def paragraphs(body: str) -> list[str]:
    """Markdown paragraphs: the files' hard line breaks inside a paragraph become spaces."""
    return markdown_paragraphs(body)


class DiscussionRenderer:
    """Renders the post of an impulse, a contribution's copy and what stands where one was removed."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def post(self, impulse: ImpulseView, language: str) -> Reply:
        html = self.renderer.render(
            "impulse_post", language, impulse=impulse, paragraphs=paragraphs(impulse.body)
        )
        return Reply(html, subject=about("impulse", impulse.slug))

    def copy(self, contribution: ContributionView, language: str) -> str:
        platform = PLATFORM_NAMES.get(contribution.platform, contribution.platform)
        return self.renderer.render(
            "contribution_copy", language, contribution=contribution, platform=platform
        )

    def removed(self, language: str) -> str:
        return self.renderer.render("discussion", language, case="removed", platforms=PLATFORM_NAMES)
