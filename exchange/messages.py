"""What each problem ``code`` says to people, in Chinese and English: the one catalogue.

Clients branch on ``code``; people read ``detail`` and each ``errors[].message``, in
the request's language (``language``). Chinese comes from here. English is the
raiser's own sentence when it wrote one (it names the values: "the lowest valid bid
is 1,020,000.00 yuan"), else the English here: framework errors (404, 405, a body
that does not match its schema) carry library text not written for people, so they
always read from the catalogue.

Messages are ``str.format_map`` templates filled from the problem's extra members
(``next_min_bid``...) and, for a field error, ``{field}``: the field's name for
people (``FIELD_NAMES``; domains register theirs with ``register_field_names``).
A missing value leaves its clause out (``CLAUSES``) or fills in nothing, never a
``KeyError``. ``tests/unit/test_messages.py`` finds every code in the source and
fails on one without a message here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal

Lang = Literal["zh", "en"]
Text = tuple[str, str]
"""(Chinese, English)"""

MESSAGES: Final[dict[str, Text]] = {
    # -- the framework and the kernel
    "bad_request": ("请求有误", "The request is not valid."),
    "malformed_request": ("请求格式有误，无法读取", "The request could not be read."),
    "validation_failed": ("请检查填写的内容", "Please check what you entered."),
    "not_found": ("找不到请求的内容", "No such resource."),
    "method_not_allowed": ("不支持此操作", "This method is not allowed here."),
    "internal_error": ("服务器出错，请稍后重试", "Internal error; please try again later."),
    "rate_limited": ("操作过于频繁，请稍后再试", "Too many requests; please wait and try again."),
    "too_many_requests": ("操作过于频繁，请稍后再试", "Too many requests; please wait and try again."),
    "request_entity_too_large": ("提交的内容过大", "The request is too large."),
    "unsupported_media_type": ("不支持的提交格式", "Unsupported media type."),
    "not_acceptable": ("无法按要求的格式答复", "No acceptable representation."),
    "conflict": ("操作与当前状态冲突", "The request conflicts with the current state."),
    "forbidden": ("您没有权限进行此操作", "You may not do this."),
    "unauthenticated": ("请先登录", "Please log in."),
    "csrf_failed": ("页面已过期，请刷新后重试", "The page has expired; reload it and try again."),
    "idempotency_conflict": (
        "同一请求编号已用于其他内容，请勿重复提交",
        "This Idempotency-Key was used for a different request.",
    ),
    "txn_conflict": ("操作冲突，请重试", "A concurrent change conflicted; please retry."),
    "invalid": ("{field}有误", "{field}: not valid"),
    # -- identity
    "token_invalid": ("登录凭证无效，请重新登录", "The access token is not valid; log in again."),
    "token_expired": ("登录已过期，请重新登录", "The access token has expired; log in again."),
    "token_revoked": ("账户已变更或停用，请重新登录", "This account changed or was disabled; log in again."),
    "invalid_credentials": ("用户名或密码错误", "Wrong username or password."),
    "login_throttled": ("登录失败次数过多，请稍后再试", "Too many failed logins; try again later."),
    "username_taken": ("该用户名已被注册", "This username is taken."),
    "password_weak": ("密码强度不足", "The password is too weak."),
    "entity_already_registered": (
        "该单位或个人已注册竞买人账户（一个主体只能注册一个账户）",
        "This legal entity already has a bidder account.",
    ),
    "credit_code_required": (
        "企业注册须填写统一社会信用代码",
        "An enterprise registers with its credit code.",
    ),
    "credit_code_invalid": ("统一社会信用代码无效", "The unified social credit code is not valid."),
    "id_number_invalid": ("身份证号码无效", "The ID number is not valid."),
    "group_code_invalid": ("所属集团的统一社会信用代码无效", "The group's credit code is not valid."),
    "enterprise_only": ("只有企业可以申报所属集团", "Only an enterprise declares a group."),
    "role_invalid": (
        "工作人员角色只能是经办人、审计员、管理员或登记员",
        "Staff are operator, auditor, admin or registrar.",
    ),
    "self_change": ("不能更改自己的账户", "You cannot change your own account."),
    "no_entity": ("该账户没有登记主体代码", "This account has no entity code."),
    # registration's field errors (exchange.identity.codes, exchange.identity.passwords)
    "wrong_length": ("{field}位数不对", "{field}: wrong length"),
    "bad_characters": ("{field}含有不允许的字符", "{field}: characters not allowed"),
    "bad_division": ("{field}第 3–8 位应为行政区划代码", "{field}: characters 3-8 must be a division code"),
    "bad_format": ("{field}格式不对：应为 17 位数字加 1 位校验码", "{field}: 17 digits and a check digit"),
    "bad_birth_date": ("{field}中的出生日期无效", "{field}: the birth date is not a date"),
    "wrong_check_character": ("{field}校验位不符", "{field}: the check character does not match"),
    "password_too_short": ("密码至少 {min_length} 位", "At least {min_length} characters."),
    "password_letters_and_digits": ("密码须同时包含字母和数字", "Use both letters and digits."),
    "password_contains_username": ("密码强度不足：不得包含用户名", "Must not contain the username."),
    "password_too_few_characters": ("密码至少包含 5 个不同字符", "At least 5 different characters."),
    "password_too_common": ("密码过于常见，容易被猜中", "Too common: among the first passwords tried."),
    # -- listings
    "listing_invalid": ("标的信息有误", "The listing is not valid."),
    "listing_not_draft": ("只有草稿状态的标的可以修改或发布", "Only a draft can be changed or published."),
    "listing_final": ("标的已结束，不能再操作", "The listing is final."),
    "listing_not_live": ("标的不在交易中", "The listing is not live."),
    "listing_not_suspended": ("标的未中止", "The listing is not suspended."),
    "already_relisted": ("该标的已重新挂牌", "The listing was already relisted."),
    "reserve_locked": ("保留价已锁定，不能修改", "The reserve price is locked."),
    "schedule_invalid": ("交易时间安排不符合规则", "The schedule breaks the rules."),
    "schedule_order_invalid": ("{field}的先后顺序不对", "{field}: the dates are out of order"),
    "schedule_time_invalid": ("{field}须带时区", "{field}: must carry a UTC offset"),
    "announcement_lead_too_short": (
        "{field}距公告时间不足法定天数",
        "{field}: the announcement lead is too short",
    ),
    "period_too_short": ("{field}：期限短于规定", "{field}: the period is too short"),
    "listing_period_too_short": ("挂牌期限短于规定", "The listing period is too short."),
    "registration_closes_too_late": ("报名截止时间晚于规定", "Registration closes too late."),
    "publicity_too_short": ("公示期短于规定", "The publicity period is too short."),
    "calendar_not_covered": (
        "法定日期所在年份尚未导入节假日安排，请先导入",
        "No holiday table covers a statutory date; import the calendar first.",
    ),
    "calendar_file_invalid": ("节假日安排文件有误", "The calendar file is not valid."),
    "deposit_below_minimum": ("竞买保证金低于起始价的法定比例", "The deposit is below the legal minimum."),
    "min_bidders_too_low": ("矿业权竞价至少须有三名竞买人", "A mining-right auction needs three bidders."),
    "seller_missing": (
        "请填写出让人（转让方）和公告文号",
        "The seller and announcement number are required.",
    ),
    "payment_terms_invalid": ("付款条件有误", "The payment terms are not valid."),
    "unit_invalid": ("{field}：计量单位不符", "{field}: wrong unit"),
    "registration_closed": ("报名已截止", "Registration is closed."),
    "already_applied": ("您已报名该标的", "You have already applied."),
    # joint bidding, 联合竞买 (listings/consortia.py)
    "consortium_lead_code_required": (
        "联合竞买的牵头人须为以统一社会信用代码注册的企业",
        "A consortium is led by an enterprise registered with its credit code.",
    ),
    "consortium_members_required": (
        "联合竞买除牵头人外至少应有一名成员",
        "A consortium needs at least one member besides the lead.",
    ),
    "consortium_members_too_many": ("联合竞买成员过多", "Too many consortium members."),
    "consortium_member_duplicate": (
        "同一统一社会信用代码在联合体中出现两次",
        "A credit code appears twice in the consortium.",
    ),
    "consortium_name_required": ("请填写联合体成员名称", "Every member needs its name."),
    "consortium_shares_invalid": (
        "联合体各方份额应为大于0、小于100且最多两位小数的百分比，合计恰为100%",
        "Shares are percentages above 0 and below 100 with at most two places, summing to 100.",
    ),
    "in_consortium": (
        "贵单位已确认参与本标的联合竞买，不得再单独或以其他联合体报名（一个法人一个竞买人）",
        "Your enterprise has confirmed a joint bid on this listing: it may not also apply alone or "
        "in another consortium (one legal entity, one bidder).",
    ),
    "consortium_member_bidding": (
        "贵单位已单独或以其他联合体参与本标的竞买，不能再确认本联合竞买（一个法人一个竞买人）",
        "Your enterprise already bids on this listing, alone or in another consortium: it cannot "
        "also confirm this joint bid (one legal entity, one bidder).",
    ),
    "consortium_unconfirmed": (
        "联合体成员尚未全部确认联合竞买",
        "Not every member of the consortium has confirmed yet.",
    ),
    "consortium_confirmation_closed": (
        "保证金截止时间已过，联合竞买未获全部成员确认，报名已终止",
        "The deposit deadline passed before every member confirmed: the application has ended.",
    ),
    "consortium_member_decided": (
        "该成员已答复，或该联合竞买报名已终止",
        "This member has already answered, or the application has ended.",
    ),
    "application_decided": ("该申请已审核", "The application is already decided."),
    "applicants_sealed": ("报名人信息在竞价结束前保密", "Applicants are sealed until the close."),
    "declarations_required": ("请先确认竞买申请书和承诺书", "Confirm the application and the pledge first."),
    "declarations_outdated": (
        "竞买申请书或承诺书已更新，请刷新后重新确认",
        "The texts changed; reload and confirm them again.",
    ),
    "document_type_not_allowed": ("不支持该文件类型", "This file type is not allowed."),
    "document_too_large": ("文件过大", "The file is too large."),
    "document_empty": ("文件为空", "The file is empty."),
    "too_many_documents": ("上传的文件数量已达上限", "Too many documents."),
    "document_conflict": ("文件冲突，请刷新后重试", "The document conflicts; reload and retry."),
    "document_key_conflict": ("该文件编号已被使用", "This document key is already in use."),
    "attachment_not_found": ("找不到该附件", "No such attachment."),
    # listing form field errors (listings.fields, listings.attributes, listings.methods)
    "required": ("请填写：{field}", "Please fill in: {field}"),
    "unknown_field": ("不认识的字段：{field}", "Unknown field: {field}"),
    "type_invalid": ("{field}格式不正确", "{field}: wrong type"),
    "format_invalid": ("{field}格式不正确", "{field}: wrong format"),
    "too_long": ("{field}过长", "{field}: too long"),
    "too_short": ("{field}过短", "{field}: too short"),
    "out_of_range": ("{field}超出允许范围", "{field}: out of range"),
    "choice_invalid": ("{field}不是可选项之一", "{field}: not one of the choices"),
    "nul_character": ("{field}含有不允许的控制字符", "{field}: may not contain NUL characters"),
    "too_many_decimal_places": ("{field}小数位数过多", "{field}: too many decimal places"),
    "range_inverted": ("{field}高于上限", "{field}: above the maximum"),
    "not_applicable": ("{field}不适用于该交易方式", "{field}: does not apply here"),
    "shares_invalid": ("{field}：各用途比例须合计为 1", "{field}: the shares must sum to 1"),
    "term_exceeds_legal_max": ("{field}超过法定最高年限", "{field}: exceeds the legal maximum"),
    "coordinate_out_of_range": ("{field}：坐标不在中国境内", "{field}: the point lies outside China"),
    "polygon_too_few_points": ("{field}：界址至少需要 3 个不同的点", "{field}: at least 3 distinct points"),
    "polygon_degenerate": ("{field}：各点共线，范围没有面积", "{field}: the points are collinear"),
    "money_invalid": ("{field}金额格式不正确", "{field}: not an amount"),
    "seller_name_invalid": ("请填写出让人名称", "The seller's name cannot be blank."),
    "method_invalid": ("交易方式不是可选项之一", "Not a known method."),
    "start_price_invalid": ("起始价须为正的金额", "The start price must be a positive amount."),
    "increment_invalid": ("加价幅度须为正的金额", "The increment must be a positive amount."),
    "deposit_invalid": ("竞买保证金金额不正确", "The deposit is not a valid amount."),
    "reserve_required": ("该标的须设保留价（底价）", "This listing needs a reserve price."),
    "reserve_invalid": ("保留价金额不正确", "The reserve price is not a valid amount."),
    "reserve_above_start": ("底价高于起始价", "The floor is above the start price."),
    "reserve_below_start": ("保留价低于起始价", "The reserve is below the start price."),
    "reserve_not_on_increment": (
        "底价须为起始价加整数个加价幅度",
        "The floor must be on the increment grid.",
    ),
    "extension_required": ("请填写延时周期", "The extension period is required."),
    "extension_invalid": ("延时周期秒数超出允许范围", "The extension period is out of range."),
    "min_bidders_invalid": ("最少竞买人数须在 1 到 1000 之间", "min_bidders must be between 1 and 1000."),
    "freeze_invalid": ("冻结期秒数超出允许范围", "The freeze period is out of range."),
    "qualification_invalid": ("资格审查方式须为资格前审或资格后审", "Qualification is pre or post."),
    "cap_invalid": ("最高限价金额不正确", "The price cap is not a valid amount."),
    "cap_below_start": ("最高限价须高于起始价", "The cap must be above the start price."),
    "cap_below_reserve": ("最高限价低于保留价", "The cap is below the reserve price."),
    "cap_not_on_increment": ("最高限价须为起始价加整数个加价幅度", "The cap must be on the increment grid."),
    "cap_rule_invalid": ("达到限价后的规则不是可选项之一", "Not a known cap rule."),
    "cap_rule_conflict": ("限价摇号须按最高价确定竞得人", "The cap lottery needs award rule highest."),
    "cap_required": ("限价摇号须设最高限价", "The cap lottery needs a price cap."),
    "lottery_window_required": ("请填写摇号报名时长", "The lottery window is required."),
    "lottery_window_invalid": ("摇号报名时长超出允许范围", "The lottery window is out of range."),
    "quantity_not_multiple_of_lot": ("总量须为每手数量的整数倍", "The quantity must be whole lots."),
    "unit_required": ("请填写计量单位", "The quantity unit is required."),
    "share_out_of_range": ("单个竞买人最高份额须大于 0、不超过 1", "The share must be in (0, 1]."),
    "share_below_lot": ("单个竞买人最高份额不足一手", "No bidder could buy even one lot."),
    "guarantee_ratio_out_of_range": ("保证金覆盖比例须大于 0、不超过 1", "The ratio must be in (0, 1]."),
    # -- auctions
    "auction_not_open": ("当前不在竞价时间内", "The auction is not open for bids."),
    "not_qualified": ("您没有本标的的竞买资格", "You are not qualified to bid here."),
    "already_leading": ("您已是当前最高出价人，无需再出价", "You already hold the highest bid."),
    "already_bid": ("您已出过价，不能重复出价", "You have already bid."),
    "bid_below_minimum": ("出价低于最低有效出价", "The bid is below the minimum."),
    "bid_not_on_increment": ("出价须为当前价加整数个加价幅度", "The bid must be on the increment grid."),
    "bid_above_cap": ("出价高于最高限价", "The bid is above the price cap."),
    "quantity_invalid": ("申购数量不正确", "The quantity is not valid."),
    "price_mismatch": ("出价与当前应价不符，请刷新后重试", "The price does not match; reload and retry."),
    "nonce_required": ("应价须附带密封出价的随机码", "Send the sealed bid's nonce with it."),
    "guarantee_exceeded": ("出价总额超出保证金可担保的范围", "Your bids exceed what your deposit covers."),
    # -- settlement and documents
    "settlement_not_found": ("找不到该成交结算", "No such settlement."),
    "settlement_annulled": ("该成交已撤销", "The sale was annulled."),
    "settlement_not_in_default": ("该成交没有违约", "The settlement is not in default."),
    "sale_annulled": ("该成交已撤销", "The sale was annulled."),
    "sale_not_annullable": ("该成交不能撤销", "The sale cannot be annulled."),
    "result_not_found": ("找不到成交结果", "No such result."),
    "review_not_pending": ("没有待审核的资格后审", "No review is pending."),
    "post_qualification": ("该标的实行资格后审", "This listing uses post-qualification."),
    "rescission_not_proposed": ("没有待确认的解除合同提议", "No rescission is proposed."),
    "contract_not_expected": ("该成交不需要签订合同", "No contract is expected."),
    "contract_date_invalid": ("合同签订日期不正确", "The contract date is not valid."),
    "line_not_found": ("找不到该应付款项", "No such payment line."),
    "line_not_payable": ("该款项当前不可支付", "This line cannot be paid now."),
    "amount_exceeds_outstanding": ("缴款金额过多", "The amount exceeds what is outstanding."),
    "deposit_already_paid": ("保证金已全额到账", "The deposit has arrived in full."),
    "refund_not_found": ("找不到该退款", "No such refund."),
    "refund_already_paid": ("该退款已支付", "The refund is already paid."),
    "paid_reference_in_use": ("该付款凭证号已被使用", "This payment reference is in use."),
    "duplicate_reference": ("该银行流水号已入账", "This bank reference was already booked."),
    "notice_invalid": ("银行到账通知有误", "The bank notice is not valid."),
    "notice_not_found": ("找不到该到账通知", "No such notice."),
    "notice_duplicate": ("该到账通知已处理", "This notice was already handled."),
    "signature_invalid": ("签名无效", "The signature is not valid."),
    # bids signed by their bidders (auctions.bid_signatures): errors[].code says which problem
    "bid_signature_missing": (
        "该标的要求出价附竞买人签名，本次出价未签名，未被计入",
        "This listing requires bids signed with your registered key; the bid was not counted.",
    ),
    "bid_signature_mismatch": (
        "签名与本次出价不符（金额、数量、竞买号、请求编号或所见序号与签名内容不一致），出价未被计入",
        "The signature does not match this bid; the bid was not counted.",
    ),
    "bid_signature_malformed": (
        "出价签名格式有误（应含密钥编号、算法、签名值及所见最新序号），出价未被计入",
        "The bid's signature is malformed; the bid was not counted.",
    ),
    "bid_signature_key_unknown": (
        "签名所用的密钥未登记，出价未被计入",
        "No registered key has this kid; the bid was not counted.",
    ),
    "bid_signature_key_revoked": (
        "签名所用的密钥已撤销，出价未被计入",
        "The key that signed the bid is revoked; the bid was not counted.",
    ),
    "bid_signature_key_not_yours": (
        "签名所用的密钥属于其他竞买人，出价未被计入",
        "The key that signed the bid belongs to another bidder; the bid was not counted.",
    ),
    "bid_signature_key_other_listing": (
        "签名所用的密钥登记于其他标的，每个标的须单独登记密钥，出价未被计入",
        "The key that signed the bid was registered for another listing; register a key for this one. The bid was not counted.",
    ),
    "key_invalid": (
        "公钥格式有误：仅接受浏览器生成的椭圆曲线公钥或程序使用的爱德华曲线公钥",
        "Not a public key the exchange takes: ECDSA P-256 or Ed25519 (SPKI, JWK or raw Ed25519).",
    ),
    "key_already_registered": ("该公钥已登记过，不能重复登记", "This key is already registered."),
    "key_not_found": ("找不到您的该密钥", "You have no key with this kid."),
    "too_many_keys": ("有效密钥过多，请先撤销不再使用的密钥", "Too many active keys; revoke one first."),
    "not_tracked": ("该事项不在跟踪中", "This is not tracked."),
    "publicity_closed": ("不在公示期内", "The publicity period is not running."),
    "objection_not_found": ("找不到该异议", "No such objection."),
    "objection_not_filed": ("该异议不是待处理状态", "The objection is not open."),
    "objection_answered": ("该异议已答复", "The objection was already answered."),
    # the rights registry (settlement.registry)
    "registry_insufficient": ("登记账户的可用数量不足", "The registry account does not hold that quantity."),
    "registry_out_of_region": (
        "买方不在该权益允许交易的行政区域内",
        "The buyer is outside the region this right may be traded in.",
    ),
    "registry_out_of_basin": (
        "买方不在该权益允许交易的流域内",
        "The buyer is outside the basin this right may be traded in.",
    ),
    "registry_expired": (
        "该权益已过有效期，不得再转让",
        "The right's validity has ended: it can no longer be transferred.",
    ),
    "registry_no_account": ("该主体尚未开立登记账户", "This entity has no registry account."),
    "registry_holder_conflict": (
        "该统一社会信用代码的登记账户已以不同信息开立",
        "A registry account with this credit code exists with other particulars.",
    ),
    "registry_staff_account": (
        "交易所和监管机构工作人员不得开立登记账户",
        "Exchange and regulator staff may not hold a registry account.",
    ),
    "registry_issuance_invalid": ("核发信息不完整或不正确", "The issuance is not valid."),
    "registry_pledge_refused": (
        "只有有偿取得或交易取得、且无未履约缺口的权益方可质押",
        "Only paid-for or bought rights of a holder with no open shortfall may be pledged.",
    ),
    "registry_pledge_state": ("该质押已解除或已处置", "The pledge is no longer active."),
    "registry_obligation_conflict": (
        "该年度的核定量已按不同数值登记",
        "The verified quantity of this year is already entered with another value.",
    ),
    "registry_instrument_mismatch": (
        "所涉权益与该业务不符（品种、年度或账户）",
        "The instrument does not match (kind, year or account).",
    ),
    "registry_not_found": ("登记簿中没有该记录", "No such registry record."),
    "registry_region_mismatch": (
        "所在区域不在统一社会信用代码登记地所属省份，请由登记机构开立账户",
        "The region is outside the province that registered the credit code; ask the registrar to open the account.",
    ),
    "registry_account_unverified": (
        "登记账户的所在区域和流域尚未经登记机构核实，暂不能交易",
        "The registry account's region and basin are not yet verified by the registrar; it cannot trade yet.",
    ),
    "registry_listing_fixed": (
        "该挂牌来自登记簿出售申请，权益、数量、方式和出让方不得修改",
        "This listing sells registry holdings: its right, quantity, method and seller are fixed by the offer.",
    ),
    "registry_not_pledgee": (
        "质权只能实现给质押合同载明的质权人",
        "A pledge is enforced only to the pledgee named in its contract.",
    ),
    "registry_obligation_invalid": (
        "核定量的权益品种有误（污染物或水权类型）",
        "The verified quantity names an unknown pollutant or water right type.",
    ),
    "registry_enterprise_only": (
        "只有具有统一社会信用代码的企业才能开立登记账户",
        "Only an enterprise with a unified social credit code may hold a registry account.",
    ),
    "registry_offer_state": (
        "该出售申请当前状态不允许此操作",
        "The offer is not in a state that allows this action.",
    ),
    "registry_delivery_state": (
        "该交割当前状态不允许此操作",
        "The delivery is not in a state that allows this action.",
    ),
    "registry_offer_invalid": (
        "出售数量须为正整数（最小计量单位）",
        "The quantity offered must be a positive whole number of the smallest unit.",
    ),
    "registry_agreement_invalid": ("协议转让的内容有误", "The negotiated transfer is not valid."),
    "registry_agreement_state": (
        "该协议转让当前状态不允许此操作",
        "The agreement's state does not allow this.",
    ),
    "registry_not_seller": (
        "只有出让方本人或交易机构工作人员可以提交协议转让",
        "Only the seller itself or an operator may make this agreement.",
    ),
    "registry_document_pending": (
        "文件尚未签发，将在交割后一分钟内生成",
        "The document is not issued yet; it follows the delivery within a minute.",
    ),
    "objection_not_upheld": ("该异议未被支持", "The objection was not upheld."),
    "reasons_required": ("请填写异议理由", "State the reasons."),
    "reasons_too_long": ("异议理由过长", "The reasons are too long."),
    "answer_required": ("请填写答复", "An answer is required."),
    "answer_required_too_long": ("答复过长", "The answer is too long."),
    "reason_required": ("请填写理由", "A reason is required."),
    "reason_required_too_long": ("理由过长", "The reason is too long."),
    # -- verifiable result bundles (documents/bundle.py)
    "result_not_verifiable": (
        "该成交结果无法生成可离线核验的数据包",
        "This result cannot be verified offline.",
    ),
    "proof_unavailable": (
        "透明日志无法给出这两个规模之间的证明",
        "The transparency log has no proof for these tree sizes.",
    ),
}

CLAUSES: Final[dict[str, tuple[str, str, str]]] = {
    "bid_below_minimum": (
        "next_min_bid",
        "：最低有效出价为 {next_min_bid} 元",
        ": at least {next_min_bid} yuan",
    ),
    "bid_not_on_increment": (
        "next_min_bid",
        "（最低有效出价 {next_min_bid} 元）",
        " (at least {next_min_bid} yuan)",
    ),
    "already_leading": (
        "current_price",
        "（当前价 {current_price} 元）",
        " (current price {current_price} yuan)",
    ),
    "price_mismatch": (
        "current_price",
        "（当前价 {current_price} 元）",
        " (current price {current_price} yuan)",
    ),
    "amount_exceeds_outstanding": (
        "owed",
        "：尚欠价款 {owed} 元（服务费付给交易所，多缴部分由征收机关退还）",
        ": {owed} yuan of the price is owed",
    ),
}
"""A sentence's optional tail: (the parameter it needs, Chinese, English), left out without it."""

SUFFIX_MESSAGES: Final[dict[str, Text]] = {
    "_required": ("请填写：{field}", "Please fill in: {field}"),
    "_invalid": ("{field}不正确", "{field}: not valid"),
    "_too_long": ("{field}过长", "{field}: too long"),
    "_not_found": ("找不到请求的内容", "Not found."),
}
"""Codes built from a field's name (``f"{name}_invalid"``, listings.methods) and any new one so named."""

FIELD_MESSAGES: Final[dict[tuple[str, str], Text]] = {
    # not the HTTP 405 of the same code: the listing's method is one its asset class may not use
    ("method", "method_not_allowed"): (
        "该类标的不得采用所选交易方式",
        "This asset class may not be sold by the chosen method.",
    ),
    ("credit_code", "wrong_check_character"): (
        "统一社会信用代码校验位不符（GB 32100-2015）",
        "The check character of the credit code does not match (GB 32100-2015).",
    ),
    ("credit_code", "wrong_length"): ("统一社会信用代码应为 18 位", "A credit code has 18 characters."),
    ("group_code", "wrong_length"): (
        "所属集团的统一社会信用代码应为 18 位",
        "A credit code has 18 characters.",
    ),
    ("id_number", "wrong_check_character"): (
        "身份证号码校验码不符（GB 11643-1999）",
        "The check digit of the ID number does not match (GB 11643-1999).",
    ),
}
"""A field's own sentence for a code, where the generic ``{field}`` one would say less."""

FIELD_NAMES: dict[str, Text] = {
    "body": ("提交内容", "body"),
    "username": ("用户名", "username"),
    "password": ("密码", "password"),
    "display_name": ("名称", "display name"),
    "kind": ("主体类型", "kind"),
    "credit_code": ("统一社会信用代码", "credit code"),
    "id_number": ("身份证号码", "ID number"),
    "group_code": ("所属集团的统一社会信用代码", "group credit code"),
    "role": ("角色", "role"),
    "public_key": ("公钥", "public key"),
    "jwk": ("公钥", "JWK"),
    "signature": ("出价签名", "signature"),
    "last_seq": ("所见最新序号", "last seen sequence number"),
    "bid_signatures": ("出价签名要求", "bid signatures"),
    "asset_class": ("资产类别", "asset class"),
    "title": ("标题", "title"),
    "description": ("说明", "description"),
    "attributes": ("标的属性", "attributes"),
    "method": ("交易方式", "method"),
    "start_price": ("起始价", "start price"),
    "increment": ("加价幅度", "increment"),
    "deposit": ("竞买保证金", "deposit"),
    "reserve_price": ("保留价", "reserve price"),
    "price_cap": ("最高限价", "price cap"),
    "cap_rule": ("达到限价后的规则", "cap rule"),
    "lottery_window_seconds": ("摇号报名时长", "lottery window"),
    "quantity": ("总量", "quantity"),
    "lot": ("每手数量", "lot"),
    "unit": ("计量单位", "unit"),
    "max_bidder_share": ("单个竞买人最高份额", "max bidder share"),
    "bid_guarantee_ratio": ("保证金覆盖比例", "bid guarantee ratio"),
    "min_bidders": ("最少竞买人数", "min bidders"),
    "freeze_seconds": ("冻结期", "freeze period"),
    "award_rule": ("竞得规则", "award rule"),
    "undersubscribed": ("认购不足时的处理", "undersubscribed"),
    "pricing": ("定价方式", "pricing"),
    "qualification": ("资格审查方式", "qualification"),
    "seller": ("出让人", "seller"),
    "seller.name": ("出让人名称", "seller name"),
    "seller.credit_code": ("出让人统一社会信用代码", "seller credit code"),
    "seller.address": ("出让人地址", "seller address"),
    "seller.contact": ("出让人联系方式", "seller contact"),
    "announcement_number": ("公告文号", "announcement number"),
    "publicity_working_days": ("公示期", "publicity period"),
    "payment_terms": ("付款条件", "payment terms"),
    "schedule": ("交易时间安排", "schedule"),
    "schedule.announce_at": ("公告时间", "announcement time"),
    "schedule.registration_opens_at": ("报名开始时间", "registration opens"),
    "schedule.registration_closes_at": ("报名截止时间", "registration closes"),
    "schedule.bidding_opens_at": ("竞价开始时间", "bidding opens"),
    "schedule.bidding_closes_at": ("竞价截止时间", "bidding closes"),
    "schedule.extension_seconds": ("延时周期", "extension period"),
    "amount": ("金额", "amount"),
    "price": ("价格", "price"),
    "reason": ("理由", "reason"),
    "reasons": ("理由", "reasons"),
    "paid_at": ("到账时间", "paid at"),
}
"""The name people read for a field (a dotted path); domains add theirs with ``register_field_names``."""

_STATUS_FALLBACK: Final[dict[int, Text]] = {
    401: MESSAGES["unauthenticated"],
    403: MESSAGES["forbidden"],
    404: MESSAGES["not_found"],
    409: MESSAGES["conflict"],
    429: MESSAGES["rate_limited"],
}
_GENERIC: Final[Text] = ("请求未能完成", "The request could not be completed.")
_SOME_FIELD: Final[Text] = ("填写内容", "a field")


def register_field_names(names: Mapping[str, Text]) -> None:
    """Add a domain's field names (``attributes.plot_ratio``...); a name already known stays."""
    for path, text in names.items():
        FIELD_NAMES.setdefault(path, text)


def language(query: str | None, accept_language: str | None) -> Lang:
    """``?lang=`` (zh or en) first; else the higher-q of zh and en in ``Accept-Language``
    (the earlier on a tie); Chinese when neither is listed or there is no header."""
    if query:
        tag = query.strip().lower()
        if tag == "en" or tag.startswith("en-"):
            return "en"
        if tag == "zh" or tag.startswith("zh-"):
            return "zh"
    best: tuple[float, Lang] | None = None
    for item in (accept_language or "").split(","):
        tag, *params = (part.strip() for part in item.split(";"))
        primary = tag.lower().split("-")[0]
        if primary not in ("zh", "en"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q, "en" if primary == "en" else "zh")
    return best[1] if best else "zh"


class _Values(dict[str, Any]):
    """Template values: a missing one is empty, not a ``KeyError``."""

    def __missing__(self, key: str) -> str:
        return ""


MONEY_PARAMS: Final = frozenset({"next_min_bid", "current_price", "owed"})
"""Parameters that are yuan ("1020000.00"): people read them grouped, 1,020,000.00."""


def _shown(key: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if key in MONEY_PARAMS and re.fullmatch(r"-?\d+\.\d{2}", text):
        return f"{Decimal(text):,.2f}"
    return text


def _fill(template: str, values: Mapping[str, Any]) -> str:
    return template.format_map(_Values({k: _shown(k, v) for k, v in values.items()}))


def _pick(text: Text, lang: Lang) -> str:
    return text[0] if lang == "zh" else text[1]


def known(code: str) -> bool:
    return code in MESSAGES


def detail(code: str, lang: Lang, params: Mapping[str, Any] | None = None, status: int = 400) -> str:
    """The sentence for a problem ``code``, filled from ``params`` (the problem's extra members)."""
    values = {"field": _pick(_SOME_FIELD, lang), **(params or {})}
    text = MESSAGES.get(code) or _by_suffix(code) or _STATUS_FALLBACK.get(status, _GENERIC)
    return _sentence(code, _pick(text, lang), lang, values)


def _sentence(code: str, template: str, lang: Lang, values: Mapping[str, Any]) -> str:
    """``template`` filled, with the code's clause (``CLAUSES``) when its value is there."""
    sentence = _fill(template, values)
    clause = CLAUSES.get(code)
    if clause is not None and values.get(clause[0]) not in (None, ""):
        tail = _fill(clause[1] if lang == "zh" else clause[2], values)
        sentence = sentence.rstrip(".") + tail + ("" if lang == "zh" else ".")
    return sentence


def field_name(path: str, lang: Lang) -> str:
    """``attributes.plot_ratio.min`` -> its own name, else its nearest named parent's, else the path."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        text = FIELD_NAMES.get(".".join(parts[:end]))
        if text is not None:
            return _pick(text, lang)
    for part in reversed(parts):  # a nested field named like a top-level one ("seller.credit_code")
        text = FIELD_NAMES.get(part.split("[")[0])
        if text is not None:
            return _pick(text, lang)
    return path if lang == "en" else _pick(_SOME_FIELD, lang)


def field_message(code: str, field: str, lang: Lang, params: Mapping[str, Any] | None = None) -> str:
    """The sentence for one field error: the field's own, the code's with the field named, or a generic one."""
    leaf = field.split(".")[-1]
    own = FIELD_MESSAGES.get((field, code)) or FIELD_MESSAGES.get((leaf, code))
    if own is not None:
        return _fill(_pick(own, lang), params or {})
    text = MESSAGES.get(code) or _by_suffix(code) or MESSAGES["invalid"]
    return _sentence(code, _pick(text, lang), lang, {**(params or {}), "field": field_name(field, lang)})


def _by_suffix(code: str) -> Text | None:
    for suffix, text in SUFFIX_MESSAGES.items():
        if code.endswith(suffix):
            return text
    return None
