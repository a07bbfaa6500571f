# custody report: English messages. Every sentence of the report is here;
# ja/report.ftl holds the same ids. Arguments NAME-text are counts written
# out with digit grouping; NAME itself selects the plural form.

title = Evidence report: { $case }
title-no-case = Evidence report
bytes = { $n -> 
    [one] { $n-text } byte
   *[other] { $n-text } bytes
}
value-none = not recorded

## The verdict

verdict-verified = Verified
verdict-incomplete = Incomplete
verdict-untrusted = Signer not trusted
verdict-tampered = Tampered

reliance-verified = Everything in this report rests on proven evidence: the archive is complete and sealed, every byte matches what was signed, and the signing key is one you named as trusted.
reliance-incomplete = Only part of this archive can be relied on: { $proven-text } of { $members-text } files and folders are proven. Figures marked † include members that are not proven.
reliance-untrusted = Nothing in this report is proven to come from someone you trust: the archive is intact, but it was signed by the key { $fingerprint }, which was not named as trusted. Every figure marked † rests on that key alone.
reliance-tampered-archive = This archive was changed after it was signed. Only figures without the mark † rest on proven members; the others cannot be relied on.
reliance-tampered-file = The archive file is not the one recorded for it, although its contents still match what was signed. Treat it as a different copy until the difference is explained.
reliance-tampered-log = The evidence itself is intact and proven, but its custody log was altered: the chain of custody in this report cannot be relied on.

meaning-verified = This means that the collected files have not changed by a single byte since the collector signed them, and that the holder of the key you trust signed them. It proves what was collected and when it was sealed; it does not say what the files mean or that the host told the truth.
meaning-incomplete = The collection was interrupted or the copy was cut short. What was written up to the last signed checkpoint is proven unchanged; what came after it was read but cannot be proven, and what was never written is missing. Ask for a complete copy if one exists.
meaning-untrusted = The signatures are valid and nothing changed since signing, but this report cannot tell who signed. Compare the key's fingerprint below with the one written on the custody form; if they match, make the report again naming that key.
meaning-tampered-archive = Some bytes of the archive differ from what the collector signed, or members were added, removed or reordered. The findings below name them. Members proven by checkpoints before the damage can still be relied on; treat the rest as unreliable.
meaning-tampered-file = The archive's SHA-256 differs from the value recorded for it (on the custody form or in the checksum file beside it). Its contents still match the signatures, so it may be an honest recompressed copy, or the recorded value may be wrong.
meaning-tampered-log = Entries of the custody log were changed, removed or reordered after they were signed, or a signature does not verify. The evidence itself is not affected; the record of who held it since is in doubt.

fact-proven = Proven: { $proven-text } of { $members-text } files and folders, by { $checkpoints -> 
    [one] one signed checkpoint.
   *[other] { $checkpoints-text } signed checkpoints.
}
fact-unproven = Not proven: { $unproven-text } files and folders. Figures marked † include them.
fact-altered = Altered: { $altered -> 
    [one] one member differs
   *[other] { $altered-text } members differ
} from what was signed, or was never signed.
fact-sealed = The collection ended normally and was sealed.
fact-not-sealed = The archive has no valid seal: the collection did not end normally, or its end is missing.

## Findings

h-findings = Findings
findings-none = The verifier found no error and no warning.
findings-intro = What the verifier noticed, most serious first in each part of the archive. Errors show tampering; warnings limit what is proven.
findings-more = { $n-text } more findings are in the JSON report.
col-level = Level
col-finding = Finding
col-where = Where
level-error = Error
level-warning = Warning
level-info = Note
where-checkpoint = in the part signed by checkpoint { $n-text }
where-log-line = custody log line { $n-text }
finding-truncated = The archive ends before its seal: it was cut off.
finding-missing-end-marker = The end-of-archive marker is missing.
finding-untrusted-signer = The signing key is not among the trusted keys.
finding-collection-failure = A file could not be collected whole.
finding-collection-skip = An entry was not collected.
finding-collection-stopped = The collector was stopped and signed a last checkpoint.
finding-compressed-damage = The compressed data is damaged.
finding-malformed-header = A file header in the archive is malformed.
finding-bad-header-document = The archive's header document is missing or malformed.
finding-bad-signature = A checkpoint signature does not verify.
finding-bad-checkpoint = A checkpoint is malformed or inconsistent.
finding-chain-broken = The chain of checkpoints is broken.
finding-segment-digest-mismatch = A part of the archive differs from its signed digest.
finding-content-altered = A file's content differs from what was signed.
finding-header-altered = A file's metadata differs from what was signed.
finding-member-missing = A signed member is missing.
finding-member-unlisted = A member is present that was never signed.
finding-members-reordered = Members are in another order than signed.
finding-data-after-seal = There are bytes after the seal.
finding-bad-padding = The archive's padding is not as written.
finding-non-canonical-custody-member = A custody member's header is not the one custody writes.
finding-archive-digest-mismatch = The archive file's SHA-256 differs from the recorded one.
finding-log-malformed = A line of the custody log is not a record.
finding-log-truncated = The custody log is cut short.
finding-log-link-broken = Custody log records were edited, removed, inserted or reordered.
finding-log-bad-signature = A custody log event's signature does not verify.
finding-log-other-archive = A custody log event names another archive.
finding-log-chain-not-proven = A custody log event names a state of the archive this copy does not prove.
finding-log-untrusted-signer = A custody log event is signed by a key not named as trusted.
finding-log-archive-digest-differs = The archive file's SHA-256 differs from the one a custody event recorded.
finding-timestamp-mismatch = A trusted timestamp is for other data.
finding-timestamp-invalid = A trusted timestamp is not valid.
finding-timestamp-untrusted = A trusted timestamp comes from an authority not named as trusted.
finding-timestamp-failed = The collector got no trusted timestamp for a checkpoint.
finding-clock-disagrees = The collector's clock and the trusted time disagree.

## The custody form

h-form = For the custody form
form-intro = The facts that identify this evidence. The archive's SHA-256 and the final chain value are what the custody form records.
form-case = Case
form-evidence-id = Evidence id
form-examiner = Examiner
form-note = Note
form-host = Host
form-machine-id = Machine id
form-sources = What was collected
form-excludes = Left out on purpose
form-collected = Collected
collected-range = from { $from } to { $to }
collected-open = from { $from } (no end is proven)
form-signer = Signed by
key-source-file = a key from a key file
key-source-agent = a key held by ssh-agent
key-source-ephemeral = a one-time key made for this collection (its fingerprint must be on the custody form)
signer-trusted = Trusted: named by { $anchor }.
signer-untrusted = Not trusted: no trusted key given for this report names it.
form-archive-sha256 = Archive file SHA-256
sha256-matches-sidecar = Matches the checksum file beside the archive.
sha256-matches-option = Matches the value given for the custody form.
sha256-differs-sidecar = Differs from the checksum file beside the archive, which says { $expected }.
sha256-differs-option = Differs from the value given for the custody form, { $expected }.
sha256-not-recorded = No recorded value was given to compare with.
form-chain = Final chain value
chain-explained = Stays the same if the archive is honestly recompressed.
form-archive-id = Archive id
form-collector = Collected with custody version

h-timestamps = Trusted time
timestamps-none = The archive carries no trusted timestamps: its times are those of the collecting host's clock.
timestamps-intro = Independent time-stamping authorities vouched that these checkpoints existed at these times.
col-checkpoint = Checkpoint
col-trusted-time = Trusted time
col-tsa = Authority
col-status = Status
ts-status-trusted = Valid and trusted
ts-status-not-checked = Valid, but no trusted authority was named
ts-status-untrusted = Valid, from an authority not named as trusted
ts-status-mismatch = For other data
ts-status-invalid = Not valid
ts-status-failed = None: the authority could not be reached

## Chain of custody

h-custody = Chain of custody
custody-none = This archive has no custody log beside it, so the report cannot say who held it since it was collected.
custody-intro = The custody log { $file } records { $n -> 
    [one] one entry
   *[other] { $n-text } entries
}, each signed by whoever recorded it.
custody-intact = The custody log is intact: no entry was changed, removed or reordered.
custody-broken = The custody log was altered: see the findings above.
custody-head = Last entry digest, for the custody form:
col-line = Line
col-time = Time
col-event = Event
col-who = Who
col-details = Details
col-signature = Signature
event-acquired = Acquired
event-transferred = Transferred
event-received = Received
event-verified = Verified
event-copied = Copied
event-stored = Stored
event-accessed = Accessed
event-returned = Returned
event-disposed = Disposed of
event-note = Note
event-timestamp = Trusted timestamp
detail-location = Place: { $value }
detail-counterpart = Other party: { $value }
detail-reason = Reason: { $value }
detail-note = Note: { $value }
detail-verdict = Result recorded: { $value }
detail-trusted-time = { $time } by { $tsa }
sig-invalid = Does not verify
sig-trusted = Valid, trusted as { $anchor }
sig-untrusted = Valid, key not named as trusted

## Coverage

h-coverage = What was collected
coverage-intro = { $members-text } files and folders were collected, of which { $files-text } are regular files holding { $size }.
areas-explained = By area: the first folder of each path, or the first two under /var, /usr, /srv, /opt and /run.
col-area = Area
col-members = Files and folders
col-files = Regular files
col-size = Size
area-other = other areas
area-root = the root folder
h-not-collected = What was not collected, or not whole
not-collected-none = Everything the collection met was collected whole.
col-reason = Reason
col-count = How many
col-examples = Examples
reason-permission = Permission denied: the collector was not allowed to read it.
reason-vanished = Vanished: deleted between being found and being read.
reason-excluded = Left out on purpose (--exclude).
reason-other-filesystem = On another filesystem: recorded, not entered.
reason-changed-while-read = A live file that changed while it was read: what was read is kept.
reason-read-error = A read failed part-way, or the collection stopped while reading.
reason-other = Could not be examined or read for another reason.
examples-more = and { $n-text } more (see the JSON report).

## Activity

h-activity = Activity over time
window-default = The window shown is the 30 days up to the start of the collection: { $from } to { $to }.
window-given = The window shown is { $from } to { $to }, as asked.
activity-intro = How many files were modified, changed or created in each part of the window, by area. Times come from the collected host's file system and can be forged by an intruder with enough access: they are leads, not proof of when something happened.
activity-none = No collected file has a time in this window.
activity-unproven = Red dots mark periods that include { $n-text } times of files that are not proven.
activity-no-btime = The host's file system did not report when files were created, so creation times are absent.
svg-title = File activity by area over the window
svg-bar = { $kind }: { $n-text }
svg-unproven = includes unproven files
kind-mtime = content modified
kind-ctime = metadata changed
kind-btime = created

## Persistence places

h-persistence = Changes where intruders persist or hide
persistence-intro = Files changed in the window in the places intruders use to come back or hide: SSH keys, accounts, sudo rules, scheduled tasks, services, shell start-up files and histories, preloaded libraries, web roots and temporary folders. Newest first. A change here is a lead to examine, not a conclusion.
persistence-none = No file in these places changed in the window.
persistence-count = { $n -> 
    [one] One file
   *[other] { $n-text } files
} changed in these places; the newest { $shown-text } are shown.
col-changed = Changed
col-path = File
col-place = Place
col-owner = Owner and mode
col-proof = Proof
place-ssh-keys = SSH keys allowed to log in
place-ssh-config = SSH server or client settings
place-accounts = User accounts and groups
place-sudoers = Sudo rules
place-preload = Preloaded libraries
place-cron = Scheduled tasks
place-services = Services started automatically
place-pam = Login modules (PAM)
place-shell-startup = Shell start-up files
place-shell-history = Shell histories
place-web-root = Web roots
place-temp = Temporary folders
proof-proven = Proven
proof-matches-listing = Matches a signed listing, not proven
proof-altered = Altered
proof-unproven = Not proven

## Intrusion clues

h-clues = First clues of the intrusion path, from the archived logs
clues-intro = These lines were read from the login logs inside the archive (auth.log or secure, wtmp, btmp). They are leads for an investigator, not conclusions: logs can be incomplete, rotated away or forged by an intruder.
clues-no-logs = The archive holds no login log this report can read, so no clue is shown.
clues-logs-read = { $n -> 
    [one] One log was read:
   *[other] { $n-text } logs were read:
}
clues-log-lines = ({ $n-text } lines or records)
h-clues-logins = SSH logins, accepted and failed, by user and source address
h-clues-sudo = Use of sudo
h-clues-accounts = Users and keys added or changed
clues-none = None found.
clues-truncated = The logs held more than the report keeps; the JSON report says which lists were cut.
clues-key-used = key { $key } first used from { $source }
login-accepted = Accepted
login-failed = Failed
col-outcome = Result
col-user = User
col-source = From
col-method = Method
col-first = First seen
col-last = Last seen
col-run-as = As
col-command = Command

## Footer

mark-title = This figure includes { $n-text } files or folders that are not proven.
mark-explained = marks a figure that includes files or folders that no verified checkpoint proves: it cannot be relied on as evidence.
footer-times = Times are shown in { $zone }; the JSON report gives them in UTC.
footer-generated = Made by custody { $version } on { $time }.
