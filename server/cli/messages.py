"""The host's, admin's and profile commands' words, Chinese first, English on request.

One catalogue, id -> (zh-CN, en), so that a fuller catalogue can absorb it whole: no user-facing
literal of these commands lives elsewhere. `BIDROOM_LANG=en` (or any `en...`) picks English;
anything else, or nothing, Chinese.
"""

from __future__ import annotations

import os
from typing import Final

from wcwidth import wcswidth  # display width of CJK text: two columns a character, not one

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # Profiles.
    "profile.added": ("已保存配置 {name}（{path}）", "Saved profile {name} ({path})"),
    "profile.current": ("当前配置：{name}", "Current profile: {name}"),
    "profile.removed": ("已删除配置 {name}", "Removed profile {name}"),
    "profile.none": (
        "还没有配置；用 bidroom profile add 添加",
        "No profiles yet; add one with bidroom profile add",
    ),
    "profile.unknown": (
        "没有名为 {name} 的配置（bidroom profile list 查看）",
        "There is no profile {name} (see bidroom profile list)",
    ),
    "profile.bad_name": (
        "配置名只能用字母、数字、- 和 _（1 到 64 个）：{name}",
        "A profile name is 1 to 64 letters, digits, - or _: {name}",
    ),
    "profile.bad_node": (
        "节点地址要以 https:// 或 http:// 开头：{node}（例如 https://{node}）",
        "The node's URL must start with https:// or http://: {node} (e.g. https://{node})",
    ),
    "profile.no_key": ("找不到密钥文件 {path}", "There is no key file at {path}"),
    "profile.unreadable": (
        "配置文件 {path} 无法读取：{reason}",
        "The profile file {path} can't be read: {reason}",
    ),
    "profile.missing": (
        "缺少 {flags}：在命令中给出，或用 bidroom profile add 保存配置",
        "Missing {flags}: give them, or save a profile with bidroom profile add",
    ),
    "col.profile": ("配置", "profile"),
    "col.node": ("节点", "node"),
    "col.participant": ("参与者", "participant"),
    "col.key": ("密钥文件", "key file"),
    "col.current": ("当前", "current"),
    # Private keys (bidroom key, and every command that reads a key file).
    "key.prompt": ("新密钥的口令：", "Passphrase for the new key: "),
    "key.prompt_again": ("再输入一次口令：", "The passphrase again: "),
    "key.prompt_mismatch": (
        "两次输入的口令不一致；密钥未写入",
        "The passphrases differ; no key written",
    ),
    "key.prompt_empty": (
        "口令为空；密钥未写入（确需明文密钥请加 --no-passphrase）",
        "The passphrase is empty; no key written (add --no-passphrase for a plain key)",
    ),
    "key.no_passphrase_source": (
        "新密钥需要口令：用 --passphrase-env 变量名 给出，或在终端中运行以输入；"
        "测试机可用 --no-passphrase 写明文密钥",
        "A new key needs a passphrase: name the variable holding it with --passphrase-env VAR, "
        "or run in a terminal to be asked; --no-passphrase writes a plain key (test machines)",
    ),
    "key.unprotected": (
        "!!! {path} 未加密：任何能复制这个文件的人都能以你的身份签名、打开发给你的密封文件。"
        "只适合测试机或演示；正式使用请用 bidroom key protect 加上口令",
        "!!! {path} is NOT protected by a passphrase: anyone who copies the file can sign as you "
        "and open what is sealed to you. Fit for a test machine or a demo; protect it with "
        "bidroom key protect before real use",
    ),
    "key.exists": ("{path} 已存在；不会覆盖密钥", "{path} exists; refusing to overwrite a key"),
    "key.env_empty": ("环境变量 {variable} 为空", "The environment variable {variable} is empty"),
    "key.unreadable": ("无法读取 {path}：{reason}", "Can't read {path}: {reason}"),
    "key.bad": ("{path} 无法作为密钥打开：{reason}", "{path} can't be opened as a key: {reason}"),
    "key.protected": (
        "{path}：已用 ${variable} 中的口令加密",
        "{path}: encrypted with the passphrase from ${variable}",
    ),
    "key.too_open": (
        "密钥文件 {path} 可被其他用户访问（权限 {mode}），拒绝使用：先运行 chmod 600 {path}",
        "The key file {path} is open to other users (mode {mode}); refusing to use it: "
        "run chmod 600 {path} first",
    ),
    # Tenders.
    "tender.created": (
        "已创建招标项目 {id}（草稿）：{title}",
        "Created tender {id} (draft): {title}",
    ),
    "tender.published": ("已发布招标项目 {id}", "Published tender {id}"),
    "tender.spec_written": ("招标文件规格已写入 {path}", "The tender spec is written to {path}"),
    "tender.spec_unreadable": ("无法读取 {path}：{reason}", "Can't read {path}: {reason}"),
    "tender.spec_invalid": (
        "{path} 不是有效的 JSON（注释已去除）：{reason}",
        "{path} is not valid JSON (comments removed): {reason}",
    ),
    "tender.spec_not_object": ("{path} 应是一个 JSON 对象", "{path} must hold a JSON object"),
    "tender.need_file": (
        "请给出规格文件（使用 --interactive 时为要写入的文件）",
        "Give the spec FILE (with --interactive: the file to write)",
    ),
    "tender.exists": ("{path} 已存在，不会覆盖", "{path} exists; refusing to overwrite it"),
    "tender.none": ("没有招标项目", "No tenders"),
    "ask.title": ("项目名称", "Title"),
    "ask.tenderer": ("招标人", "Tenderer"),
    "ask.lots": ("标段名称（逗号分隔）", "Lot names (comma-separated)"),
    "ask.opens": (
        "开始投标时间（UTC，如 2026-12-01T01:00:00Z）",
        "Bidding opens at (UTC, e.g. 2026-12-01T01:00:00Z)",
    ),
    "ask.deadline": ("投标截止（开标）时间（UTC）", "Deadline = opening time (UTC)"),
    "ask.custodians": (
        "开标密钥保管人的参与者编号（逗号分隔，至少 2 个）",
        "Opening-key custodians' participant ids (comma-separated, 2 or more)",
    ),
    "ask.threshold": ("开标所需的保管人数", "Custodians needed to open"),
    "ask.committee": ("评标委员会人数（奇数，至少 5）", "Committee size (odd, 5 or more)"),
    "ask.min_bids": ("最少有效投标数（至少 3）", "Fewest valid bids (3 or more)"),
    "ask.not_number": ("请输入整数", "Enter a whole number"),
    "ask.empty": ("不能为空", "This can't be empty"),
    "col.tender": ("项目编号", "tender"),
    "col.title": ("名称", "title"),
    "col.state": ("状态", "state"),
    "col.deadline": ("开标时间", "opening time"),
    "col.lot": ("标段", "lot"),
    "col.stage": ("评标阶段", "stage"),
    "col.members": ("专家", "members"),
    "col.checked_in": ("已签到", "checked in"),
    "col.signed": ("已签字", "signed"),
    "col.field": ("项目", "item"),
    "col.value": ("内容", "value"),
    "col.bids": ("投标", "bids"),
    "col.name": ("名称", "name"),
    "col.role": ("角色", "role"),
    "col.public_key": ("公钥", "public key"),
    "status.tenderer": ("招标人", "tenderer"),
    "status.opening": ("开标", "opening"),
    "status.remaining": ("剩余时间（秒）", "seconds left"),
    "status.objections": ("异议", "objections"),
    "status.signed_in": ("已签到投标人", "bidders signed in"),
    "status.no_opening": ("（尚无开标信息）", "(no opening yet)"),
    "status.no_rooms": ("（尚无评标室）", "(no evaluation rooms yet)"),
    # The opening, the draw, the evaluation.
    "opening.done": ("开标：{step}，阶段 {phase}", "Opening: {step}, phase {phase}"),
    "opening.step.start": ("开始 start", "started"),
    "opening.step.pause": ("暂停 pause", "paused"),
    "opening.step.resume": ("继续 resume", "resumed"),
    "opening.step.record": ("唱标 record", "record read out"),
    "opening.step.answer": ("答复异议 answer", "objection answered"),
    "opening.step.close": ("结束 close", "closed"),
    "draw.committed": (
        "标段 {lot} 已提交抽取承诺：种子哈希 {seed_hash}",
        "Lot {lot}: draw committed, seed hash {seed_hash}",
    ),
    "draw.revealed": ("标段 {lot} 已揭示种子 {seed}", "Lot {lot}: seed revealed, {seed}"),
    "evaluation.started": ("招标项目 {id} 进入评标", "Tender {id} is now under evaluation"),
    # Participants.
    "participant.added": (
        "已登记参与者 {id}（{role}）：{name}",
        "Enrolled participant {id} ({role}): {name}",
    ),
    "participant.no_revoke": (
        "此节点不支持撤销参与者：登记是审计日志中的永久记录，协议中没有撤销操作；{id} 仍可登录。",
        "This node cannot revoke participants: an enrolment is a permanent record of the audit "
        "log and the protocol has no revocation; {id} can still log in.",
    ),
    # Failures, one line each: what happened and what to do (server/cli/failures.py).
    "fail.unreachable": (
        "无法连接节点 {node}：{reason}。请检查地址和端口、网络，以及节点是否在运行。",
        "Can't reach the node {node}: {reason}. Check the address and port, the network, "
        "and that the node is running.",
    ),
    "fail.dns": (
        "找不到主机 {host}（域名无法解析）。请检查节点地址的拼写和网络。",
        "There is no host {host} (the name does not resolve). Check the node's address "
        "and the network.",
    ),
    "fail.timeout": (
        "连接节点 {node} 超时。请检查网络，稍后重试。",
        "The node {node} did not answer in time. Check the network and try again later.",
    ),
    "fail.tls_to_plain": (
        "{node} 的这个端口不使用 TLS：请把 https:// 改为 http://，或检查端口。",
        "The port at {node} does not speak TLS: use http:// instead of https://, "
        "or check the port.",
    ),
    "fail.plain_to_tls": (
        "节点 {node} 未作回答就断开了连接；这个端口若使用 TLS，请把 http:// 改为 https://。",
        "The node {node} closed the connection without answering; if this port speaks TLS, "
        "use https:// instead of http://.",
    ),
    "fail.certificate": (
        "节点 {node} 的证书无法验证（{reason}）。请核对地址，或安装签发该证书的 CA。",
        "The certificate of {node} does not verify ({reason}). Check the address, or install "
        "the CA that issued it.",
    ),
    "fail.not_a_node": (
        "该地址的回答不是 bidroom 节点的回答（HTTP {status}）。请检查地址、端口和 http/https。",
        "What answered is not a bidroom node (HTTP {status}). Check the address, the port "
        "and http/https.",
    ),
    "fail.login": (
        "节点拒绝登录：{said} 请检查 --participant 与 --key 是否属于同一个已登记的参与者。",
        "The node refused the login: {said} Check that --participant and --key belong "
        "to one enrolled participant.",
    ),
    "fail.forbidden": (
        "无权执行此操作：{said} 请用具有相应角色的参与者身份操作。",
        "Not allowed: {said} Act as a participant with the role for this.",
    ),
    "fail.not_found": (
        "节点上没有找到：{said} 请检查编号（招标项目、标段、参与者）。",
        "Not found on the node: {said} Check the ids (tender, lot, participant).",
    ),
    "fail.rule": (
        "节点按规则 {rule} 拒绝：{said}{cite}",
        "Refused by rule {rule}: {said}{cite}",
    ),
    "fail.cite": ("（依据 {cite}）", " (see {cite})"),
    "fail.refused": (
        "节点拒绝（HTTP {status}，{code}）：{said}",
        "The node refused (HTTP {status}, {code}): {said}",
    ),
    "fail.refused_here": ("按规则 {rule} 拒绝：{said}", "Refused by rule {rule}: {said}"),
    "fail.key_missing": (
        "找不到密钥文件 {path}。请检查路径，或用 bidroom key generate 生成密钥。",
        "There is no key file at {path}. Check the path, or make a key with bidroom key generate.",
    ),
    "fail.key_unreadable": (
        "无法读取密钥文件 {path}：{reason}。请检查文件权限。",
        "Can't read the key file {path}: {reason}. Check the file's permissions.",
    ),
    "fail.key_not_pem": (
        "{path} 不是 PEM 格式的私钥（或已损坏）。请给出 bidroom key generate 生成的文件。",
        "{path} is not a PEM private key (or is damaged). Give the file bidroom key generate "
        "wrote.",
    ),
    "fail.key_passphrase_needed": (
        "{path} 已用口令加密：请用 --passphrase-env 变量名 给出口令。",
        "{path} is encrypted: give its passphrase with --passphrase-env VARIABLE.",
    ),
    "fail.key_passphrase_wrong": (
        "{path} 的口令不对。请检查 --passphrase-env 所指的环境变量。",
        "The passphrase of {path} is wrong. Check the variable --passphrase-env names.",
    ),
    "fail.key_not_encrypted": (
        "{path} 没有加密，不需要口令：请去掉 --passphrase-env。",
        "{path} is not encrypted and takes no passphrase: leave out --passphrase-env.",
    ),
    "fail.key_kind": (
        "{path} 不是 {kind} 密钥。请检查是否给错了文件（身份密钥与加密密钥不同）。",
        "{path} is not an {kind} key. Check the file: identity and encryption keys differ.",
    ),
    "fail.disk_full": (
        "磁盘已满，无法写入 {path}。请腾出空间后重试。",
        "The disk is full: {path} could not be written. Free some space and try again.",
    ),
    "fail.disk_full_here": (
        "磁盘已满，写入失败。请腾出空间（df -h 查看）后重试。",
        "The disk is full: a write failed. Free some space (see df -h) and try again.",
    ),
    "fail.interrupted": ("已中断", "Interrupted"),
    "fail.internal": (
        "意外错误（{kind}：{reason}）。请加 --debug 重试查看详情，并报告此问题。",
        "Unexpected error ({kind}: {reason}). Rerun with --debug for the details, and report it.",
    ),
    # Asking before signing (server/cli/consent.py).
    "sign.ask": (
        "是否签名（输入 y 签名，其他任何输入取消）：",
        "Sign? Type y to sign, anything else to stop: ",
    ),
    "sign.not_interactive": (
        "签名前需要您确认，但输入不是终端：看过上面显示的内容后，加 --yes 重新运行。",
        "Signing needs your yes and the input is not a terminal: once you have read what is "
        "shown above, run again with --yes.",
    ),
    "sign.declined": ("已取消，未签名。", "Stopped: nothing was signed."),
    "sign.record": (
        "将以 {participant} 的身份签名确认开标记录 {tender}，记录哈希 {hash}（已在本机核对）。",
        "You sign, as {participant}, to confirm the opening record of {tender}: record hash "
        "{hash} (checked here).",
    ),
    "sign.report": (
        "评标报告：{tender} 标段 {lot}，报告哈希 {hash}（已在本机核对）",
        "The evaluation report of {tender}, lot {lot}: report hash {hash} (checked here)",
    ),
    "sign.ranking": (
        "  第 {rank} 名 {bidder}：报价 {price}，得分 {score}",
        "  #{rank} {bidder}: price {price}, score {score}",
    ),
    "sign.candidates": (
        "  推荐的中标候选人：{candidates}",
        "  Recommended candidates: {candidates}",
    ),
    "sign.as_signature": (
        "将以 {participant} 的身份签署此报告。",
        "You sign this report as {participant}.",
    ),
    "sign.as_dissent": (
        "将以 {participant} 的身份对此报告签署不同意见：{reasons}",
        "You sign, as {participant}, a dissent from this report: {reasons}",
    ),
    "sign.no_report": ("此评标室尚未出具报告。", "No report has been issued in this room yet."),
    "sign.report_mismatch": (
        "节点给出的报告哈希与报告内容不符，不予签名。",
        "The node's report hash does not match the report it shows: not signing.",
    ),
    # Backup and restore of a data directory (server/cli/backup.py).
    "backup.written": (
        "备份完成：{out}（{count} 个文件）",
        "Backup written: {out} ({count} files)",
    ),
    "backup.postgres": (
        "审计日志在 PostgreSQL 中：请用 pg_dump 备份（docs/deploy.md 第 6 节）",
        "The log is in PostgreSQL: back it up with pg_dump (docs/deploy.md section 6)",
    ),
    "backup.no_log": ("{path} 没有审计日志", "There is no audit log at {path}"),
    "backup.inside": (
        "备份不能放在数据目录之内（{out}），请换一个位置",
        "{out} is inside the data directory: choose a place outside it",
    ),
    "backup.exists": ("{out} 已存在，不会覆盖", "{out} exists; it is not overwritten"),
    "backup.unreadable": (
        "无法读取审计日志 {path}：{reason}",
        "Can't read the log {path}: {reason}",
    ),
    "restore.not_backup": (
        "{path} 不是备份（没有 {manifest}）",
        "{path} is not a backup (no {manifest})",
    ),
    "restore.bad_manifest": ("{manifest} 无法读取：{reason}", "{manifest} can't be read: {reason}"),
    "restore.outside": (
        "{manifest} 列出了备份之外的路径：{name}",
        "{manifest} names a path outside the backup: {name}",
    ),
    "restore.damaged": (
        "备份不完整或已损坏：{problems}",
        "The backup is incomplete or damaged: {problems}",
    ),
    "restore.missing": ("缺少 {name}", "missing: {name}"),
    "restore.changed": ("{name} 与备份时不同", "changed since the backup: {name}"),
    "restore.not_empty": (
        "{path} 不是空目录：请恢复到新目录",
        "{path} is not empty: restore into a new directory",
    ),
    "restore.done": (
        "已恢复到 {path}（{count} 个文件，备份于 {created}）；"
        "下一步：bidroom audit verify --data-dir {path}",
        "Restored into {path} ({count} files, backed up at {created}); next: "
        "bidroom audit verify --data-dir {path}",
    ),
    # Progress, and a bidder's submission checked before it is sent (issue 14, item 5).
    "progress.seal": ("密封 {name}", "Sealing {name}"),
    "progress.check": ("校验 {name}", "Checking {name}"),
    "progress.submit": ("上传 {name}", "Uploading {name}"),
    "progress.download": ("下载 {name}", "Downloading {name}"),
    "progress.decrypt": (
        "节点正在解密 {tender}/{lot} 的投标文件",
        "The node is decrypting the bid for {tender}/{lot}",
    ),
    "submit.not_sealed": (
        "{path} 不是密封投标文件：{reason}",
        "{path} is not a sealed bid: {reason}",
    ),
    "submit.elsewhere": (
        "{path} 是为 {reason} 密封的，不是本次的 {want}：请重新密封",
        "{path} is sealed for {reason}, not {want}: seal it again",
    ),
    "submit.not_yours": (
        "{path} 无法用你的加密密钥打开：{reason}（请确认 --encryption-key，或重新密封）",
        "{path} does not open with your encryption key: {reason} (check --encryption-key, "
        "or seal it again)",
    ),
    "submit.no_opening_key": (
        "{path} 没有同时密封给本项目公布的开标公钥 {reason}：请用 bidroom bidder seal 重新密封",
        "{path} is not sealed also to the tender's opening key {reason}: seal it again with "
        "bidroom bidder seal",
    ),
    "submit.corrupt": (
        "{path} 已损坏或不完整：{reason}；未上传，请重新密封",
        "{path} is damaged or incomplete: {reason}; nothing was sent, seal it again",
    ),
    "submit.duplicate": (
        "节点已收到这份文件（回执 {seq}，sha256 {sha256}）；未重复上传",
        "The node already has this very file (receipt {seq}, sha256 {sha256}); not sent again",
    ),
    "download.saved": ("已保存 {path}（{size} 字节）", "Saved {path} ({size} bytes)"),
    "unpack.not_package": (
        "{path} 不是投标文件包：{reason}",
        "{path} is not a bid package: {reason}",
    ),
    "unpack.escapes": (
        "拒绝解压：{name} 会写到 {dir} 之外",
        "Refused: {name} would be written outside {dir}",
    ),
    "unpack.too_big": (
        "拒绝解压：{reason}（上限 {limit}）",
        "Refused: {reason} (limit {limit})",
    ),
    "unpack.duplicate": (
        "拒绝解压：文件包中 {name} 出现不止一次",
        "Refused: {name} appears more than once in the package",
    ),
    "unpack.failed": ("解压失败：{path}：{reason}", "Unpacking failed: {path}: {reason}"),
    "unpack.not_empty": (
        "{path} 不是空目录：请解压到新目录",
        "{path} is not empty: unpack into a new directory",
    ),
    "unpack.done": (
        "已解压到 {dir}：开标一览表和 {count} 个文件",
        "Unpacked into {dir}: the opening sheet and {count} files",
    ),
}

# Exit codes of these commands beyond 0 (done), 1 (refused or failed) and 2 (bad usage).
EXIT_UNSUPPORTED: Final = 3  # the node does not do what was asked (participant revocation)
# `bidder submit`'s refusals before anything is sent, one code per kind.
EXIT_NOT_SEALED: Final = 20  # the file is no sealed bid (header or payload length)
EXIT_ELSEWHERE: Final = 21  # sealed for another tender, lot or bidder
EXIT_NOT_YOURS: Final = 22  # the bidder's own key does not open it
EXIT_CORRUPT: Final = 23  # a chunk or the sheet inside does not verify: damaged or truncated
EXIT_DUPLICATE: Final = 24  # the node already holds this very file as the current bid
EXIT_NO_OPENING_KEY: Final = 25  # not sealed to the opening key the tender requires


def english() -> bool:
    return os.environ.get("BIDROOM_LANG", "").lower().startswith("en")


def text(message: str, **values: object) -> str:
    """The message `message` in the user's language, filled in with `values`."""
    zh, en = MESSAGES[message]
    return (en if english() else zh).format(**values)


def fail(message: str, **values: object) -> SystemExit:
    """The one-line failure to raise: `raise fail("...")` ends the command with code 1."""
    return SystemExit(f"bidroom: {text(message, **values)}")


def table(headers: list[str], rows: list[list[object]]) -> str:
    """Rows under message-id headers, columns aligned by display width (CJK is two columns)."""
    cells = [[text(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [
            cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "✓" if value else ""
    return str(value).replace("\n", " ")


def _width(cell: str) -> int:
    width = wcswidth(cell)
    return width if width >= 0 else len(cell)  # a control character: count it as one column
