"""The 竞买申请书 and 竞买承诺书 a bidder confirms when applying online (issue 17).

An exchange keeps a signed application form and commitment for every bidder; online, the bidder
reads both (the form filled with its own name and code and the listing's terms) and ticks that it
confirms each. The application stores when that happened and which text it was
(``Application.declared_at``, ``declaration_version``), so the texts live here, in one place, and
their version is a digest of them: any change to a word gives a new version.

The API keeps accepting applications without declarations (clients written before them); a client
that sends them must confirm both, and may name the version it showed (409 when it is not this one).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from exchange.errors import Conflict, Unprocessable, field_error

__all__ = [
    "APPLICATION_FORM",
    "COMMITMENTS",
    "VERSION",
    "ApplicationForm",
    "check",
]

APPLICATION_FORM = (
    "{exchange}：\n"
    "本申请人{bidder}（{code_label}：{code}）已详细阅读{number}《{title}》交易公告及其附件，"
    "自愿申请参加该标的的竞买。该标的起始价为人民币{start_price}元，竞买保证金为人民币{deposit}元；"
    "本申请人将于{deadline}（北京时间）前将竞买保证金足额汇入本申请的保证金专用账号。",
    "To {exchange}:\n"
    "I, {bidder} ({code_label}: {code}), have read the announcement {number} “{title}” with its "
    "attachments and apply to bid for it. Its start price is {start_price} yuan and its deposit "
    "{deposit} yuan; I will pay the deposit in full into this application's deposit account before "
    "{deadline} (Beijing time).",
)
"""The 竞买申请书 (zh, en), filled by :meth:`ApplicationForm.text`."""

COMMITMENTS: tuple[tuple[str, str], ...] = (
    (
        "已认真阅读并完全理解本标的交易公告、竞买须知及全部附件，对标的现状及公告内容无异议。",
        "I have read and understood the announcement, the bidding rules and every attachment, "
        "and accept the asset as it stands.",
    ),
    (
        "接受并遵守本平台网上交易规则，承认竞价结果；竞得后按期签订成交确认书和出让（转让）合同。",
        "I accept the exchange's online trading rules and the result of the bidding, and will sign "
        "the confirmation and the contract in time if I win.",
    ),
    (
        "竞得后，竞买保证金自动转作成交价款（定金）；竞得后放弃竞得资格、逾期不签订成交确认书或合同、"
        "逾期不缴纳价款的，竞买保证金不予退还。",
        "If I win, the deposit becomes part of the price; if I then give up the win, or fail to "
        "sign or to pay in time, the deposit is forfeited.",
    ),
    (
        "不与其他竞买人或任何人恶意串通，不以任何方式排挤其他竞买人、操纵或扰乱竞价。",
        "I will not collude with other bidders or anyone else, nor keep others from bidding, nor "
        "manipulate or disturb the bidding.",
    ),
    (
        "所提交的申请材料及填报信息真实、合法、有效，如有虚假，愿承担由此产生的全部法律责任。",
        "Every document and detail I submit is true, lawful and valid; I bear all legal liability "
        "for anything false.",
    ),
    (
        "妥善保管本人（本单位）账户及密码，以本账户进行的一切操作均视为本人（本单位）的行为。",
        "I keep my account and password safe; everything done with this account is my own act.",
    ),
)
"""The 竞买承诺书, one commitment per entry (zh, en)."""

VERSION = (
    "v1-"
    + hashlib.sha256(json.dumps([APPLICATION_FORM, COMMITMENTS], ensure_ascii=False).encode()).hexdigest()[
        :12
    ]
)
"""Which text a bidder confirmed: a digest of both texts (stored with the application)."""


@dataclass(frozen=True)
class ApplicationForm:
    """What fills the 竞买申请书: the bidder and the listing, as the page shows them."""

    exchange: str
    bidder: str
    code_label: tuple[str, str]
    code: str
    number: str
    title: str
    start_price: str
    deposit: str
    deadline: str

    def text(self, lang: str) -> str:
        en = lang == "en"
        return APPLICATION_FORM[en].format(
            exchange=self.exchange,
            bidder=self.bidder,
            code_label=self.code_label[en],
            code=self.code,
            number=self.number,
            title=self.title,
            start_price=self.start_price,
            deposit=self.deposit,
            deadline=self.deadline,
        )


def check(
    application_form: bool, commitment: bool, version: str | None, now: datetime
) -> tuple[datetime, str]:
    """The (time, version) to record for declarations a client sent: 422 ``declarations_required``
    unless both are confirmed, 409 ``declarations_outdated`` when the client showed another text."""
    missing = [
        field_error(f"declarations.{name}", "must be confirmed", "declarations_required")
        for name, given in (("application_form", application_form), ("commitment", commitment))
        if not given
    ]
    if missing:
        raise Unprocessable(
            "confirm both the application form and the commitment",
            code="declarations_required",
            errors=missing,
        )
    if version is not None and version != VERSION:
        raise Conflict(
            "the application form or commitment has changed since the page was loaded; reload it",
            code="declarations_outdated",
        )
    return now, VERSION
