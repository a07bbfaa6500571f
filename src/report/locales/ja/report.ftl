# custody report: 日本語のメッセージ。en/report.ftl と同じ id を持つ。
# NAME-text は桁区切りで書いた数、NAME は複数形の選択に使う数。

title = 証拠報告書: { $case }
title-no-case = 証拠報告書
bytes = { $n-text } バイト
value-none = 記録なし

## The verdict

verdict-verified = 検証済み
verdict-incomplete = 不完全
verdict-untrusted = 署名者が信頼されていません
verdict-tampered = 改ざんあり

reliance-verified = この報告書の内容はすべて証明された証拠に基づいています。アーカイブは完全に封印されており、すべてのバイトが署名内容と一致し、署名鍵は信頼する鍵として指定されたものです。
reliance-incomplete = このアーカイブで信頼できるのは一部だけです。{ $members-text } 件のファイルとフォルダのうち、証明されているのは { $proven-text } 件です。† の付いた数値には証明されていないものが含まれます。
reliance-untrusted = この報告書の内容は、信頼できる人物によるものとは証明されていません。アーカイブは無傷ですが、信頼する鍵として指定されていない鍵 { $fingerprint } で署名されています。† の付いた数値はすべてその鍵だけに基づいています。
reliance-tampered-archive = このアーカイブは署名後に変更されています。† の付いていない数値だけが証明されたものに基づいており、それ以外は信頼できません。
reliance-tampered-file = このアーカイブファイルは記録されたものと同一ではありません。ただし内容は署名と一致しています。違いが説明されるまでは別のコピーとして扱ってください。
reliance-tampered-log = 証拠そのものは無傷で証明されていますが、保管記録(カストディログ)が改変されています。この報告書の保管の連鎖は信頼できません。

meaning-verified = つまり、収集されたファイルは収集者が署名してから 1 バイトも変わっておらず、署名したのは信頼する鍵の持ち主です。これが証明するのは、何が収集され、いつ封印されたかです。ファイルが何を意味するか、ホストが真実を記録していたかまでは示しません。
meaning-incomplete = 収集が中断されたか、コピーが途中で切れています。最後に署名されたチェックポイントまでに書かれた内容は変わっていないことが証明されています。それ以降に読まれた内容は証明できず、書かれなかった内容は欠けています。完全なコピーがあれば、それを求めてください。
meaning-untrusted = 署名は有効で、署名後の変更もありませんが、誰が署名したかはこの報告書からはわかりません。下の鍵のフィンガープリントを保管記録用紙に書かれたものと照合し、一致すればその鍵を指定して報告書を作り直してください。
meaning-tampered-archive = アーカイブの一部のバイトが収集者の署名内容と異なるか、メンバーが追加・削除・並べ替えられています。下の検出事項にその箇所を示します。損傷より前のチェックポイントで証明されたメンバーは引き続き信頼できますが、それ以外は信頼できないものとして扱ってください。
meaning-tampered-file = アーカイブの SHA-256 が、保管記録用紙または隣のチェックサムファイルに記録された値と異なります。内容は署名と一致しているため、正当に再圧縮されたコピーであるか、記録された値が誤っている可能性があります。
meaning-tampered-log = 保管記録の項目が署名後に変更・削除・並べ替えられたか、署名を検証できません。証拠そのものには影響ありませんが、その後誰が保管していたかの記録には疑いがあります。

fact-proven = 証明済み: { $members-text } 件のファイルとフォルダのうち { $proven-text } 件({ $checkpoints-text } 個の署名付きチェックポイントによる)。
fact-unproven = 未証明: { $unproven-text } 件のファイルとフォルダ。† の付いた数値にはこれらが含まれます。
fact-altered = 改変: { $altered-text } 件のメンバーが署名内容と異なるか、署名されていません。
fact-sealed = 収集は正常に終了し、封印されています。
fact-not-sealed = アーカイブに有効な封印がありません。収集が正常に終了しなかったか、末尾が欠けています。

## Findings

h-findings = 検出事項
findings-none = 検証ではエラーも警告も見つかりませんでした。
findings-intro = 検証で見つかった事項です。エラーは改ざんを示し、警告は証明できる範囲を限定します。
findings-more = ほかに { $n-text } 件の検出事項があります(JSON 報告書を参照)。
col-level = 重大度
col-finding = 内容
col-where = 場所
level-error = エラー
level-warning = 警告
level-info = 注記
where-checkpoint = チェックポイント { $n-text } が署名した部分
where-log-line = 保管記録の { $n-text } 行目
finding-truncated = アーカイブが封印の前で途切れています。
finding-missing-end-marker = アーカイブ終端の印がありません。
finding-untrusted-signer = 署名鍵が信頼する鍵に含まれていません。
finding-collection-failure = ファイルを完全には収集できませんでした。
finding-collection-skip = 収集されなかった項目があります。
finding-collection-stopped = 収集が停止され、最後のチェックポイントが署名されました。
finding-compressed-damage = 圧縮データが損傷しています。
finding-malformed-header = アーカイブ内のファイルヘッダが不正です。
finding-bad-header-document = アーカイブのヘッダ文書がないか、不正です。
finding-bad-signature = チェックポイントの署名を検証できません。
finding-bad-checkpoint = チェックポイントが不正か、矛盾しています。
finding-chain-broken = チェックポイントの連鎖が切れています。
finding-segment-digest-mismatch = アーカイブの一部が署名されたダイジェストと異なります。
finding-content-altered = ファイルの内容が署名内容と異なります。
finding-header-altered = ファイルのメタデータが署名内容と異なります。
finding-member-missing = 署名されたメンバーがありません。
finding-member-unlisted = 署名されていないメンバーがあります。
finding-members-reordered = メンバーの順序が署名時と異なります。
finding-data-after-seal = 封印の後にデータがあります。
finding-bad-padding = アーカイブの詰め物が書かれたとおりではありません。
finding-non-canonical-custody-member = custody のメンバーのヘッダが custody の書くものと異なります。
finding-archive-digest-mismatch = アーカイブファイルの SHA-256 が記録された値と異なります。
finding-log-malformed = 保管記録の行が記録の形式になっていません。
finding-log-truncated = 保管記録が途中で切れています。
finding-log-link-broken = 保管記録の項目が編集・削除・挿入・並べ替えされています。
finding-log-bad-signature = 保管記録の項目の署名を検証できません。
finding-log-other-archive = 保管記録の項目が別のアーカイブを指しています。
finding-log-chain-not-proven = 保管記録の項目が、このコピーでは証明できないアーカイブの状態を指しています。
finding-log-untrusted-signer = 保管記録の項目が、信頼する鍵として指定されていない鍵で署名されています。
finding-log-archive-digest-differs = アーカイブファイルの SHA-256 が保管記録の項目に記録された値と異なります。
finding-timestamp-mismatch = タイムスタンプが別のデータに対するものです。
finding-timestamp-invalid = タイムスタンプが有効ではありません。
finding-timestamp-untrusted = タイムスタンプが、信頼する局として指定されていない局によるものです。
finding-timestamp-failed = 収集者はチェックポイントのタイムスタンプを得られませんでした。
finding-clock-disagrees = 収集ホストの時計とタイムスタンプの時刻が一致しません。

## The custody form

h-form = 保管記録用紙の記入事項
form-intro = この証拠を特定する事実です。アーカイブの SHA-256 と最終チェーン値を保管記録用紙に記録します。
form-case = 事件番号
form-evidence-id = 証拠番号
form-examiner = 担当者
form-note = 備考
form-host = ホスト
form-machine-id = マシン ID
form-sources = 収集対象
form-excludes = 意図的に除外したもの
form-collected = 収集日時
collected-range = { $from } から { $to } まで
collected-open = { $from } から(終了は証明されていません)
form-signer = 署名者
key-source-file = 鍵ファイルの鍵
key-source-agent = ssh-agent が保持する鍵
key-source-ephemeral = この収集のために作られた使い捨ての鍵(フィンガープリントが保管記録用紙に必要です)
signer-trusted = 信頼済み: { $anchor } で指定されています。
signer-untrusted = 信頼されていません: この報告書に指定された信頼する鍵のどれにも該当しません。
form-archive-sha256 = アーカイブファイルの SHA-256
sha256-matches-sidecar = アーカイブの隣のチェックサムファイルと一致します。
sha256-matches-option = 保管記録用紙の値として指定された値と一致します。
sha256-differs-sidecar = アーカイブの隣のチェックサムファイルの値 { $expected } と異なります。
sha256-differs-option = 保管記録用紙の値として指定された値 { $expected } と異なります。
sha256-not-recorded = 照合する記録値は指定されていません。
form-chain = 最終チェーン値
chain-explained = アーカイブを正当に再圧縮しても変わりません。
form-archive-id = アーカイブ ID
form-collector = 収集に使った custody のバージョン

h-timestamps = 信頼できる時刻
timestamps-none = アーカイブには信頼できるタイムスタンプがありません。時刻は収集ホストの時計によるものです。
timestamps-intro = 独立したタイムスタンプ局が、これらのチェックポイントがこの時刻に存在したことを保証しています。
col-checkpoint = チェックポイント
col-trusted-time = 信頼できる時刻
col-tsa = タイムスタンプ局
col-status = 状態
ts-status-trusted = 有効で信頼済み
ts-status-not-checked = 有効だが、信頼する局が指定されていません
ts-status-untrusted = 有効だが、信頼する局として指定されていない局によるもの
ts-status-mismatch = 別のデータに対するもの
ts-status-invalid = 無効
ts-status-failed = なし: タイムスタンプ局に接続できませんでした

## Chain of custody

h-custody = 保管の連鎖
custody-none = このアーカイブの隣に保管記録がないため、収集後に誰が保管していたかはこの報告書からはわかりません。
custody-intro = 保管記録 { $file } には { $n-text } 件の項目があり、それぞれ記録した人が署名しています。
custody-intact = 保管記録は無傷です。変更・削除・並べ替えされた項目はありません。
custody-broken = 保管記録は改変されています。上の検出事項を参照してください。
custody-head = 保管記録用紙に記入する最終項目のダイジェスト:
col-line = 行
col-time = 日時
col-event = 出来事
col-who = 記録者
col-details = 詳細
col-signature = 署名
event-acquired = 取得
event-transferred = 引き渡し
event-received = 受領
event-verified = 検証
event-copied = 複製
event-stored = 保管
event-accessed = 閲覧
event-returned = 返却
event-disposed = 廃棄
event-note = 注記
event-timestamp = タイムスタンプ
detail-location = 場所: { $value }
detail-counterpart = 相手方: { $value }
detail-reason = 理由: { $value }
detail-note = 備考: { $value }
detail-verdict = 記録された結果: { $value }
detail-trusted-time = { $time }、{ $tsa } による
sig-invalid = 検証できません
sig-trusted = 有効、{ $anchor } として信頼済み
sig-untrusted = 有効、鍵は信頼済みとして指定されていません

## Coverage

h-coverage = 収集した範囲
coverage-intro = { $members-text } 件のファイルとフォルダを収集しました。そのうち通常ファイルは { $files-text } 件、合計 { $size } です。
areas-explained = 領域ごとの内訳: 各パスの最初のフォルダ(/var、/usr、/srv、/opt、/run の下では最初の 2 階層)。
col-area = 領域
col-members = ファイルとフォルダ
col-files = 通常ファイル
col-size = サイズ
area-other = その他の領域
area-root = ルートフォルダ
h-not-collected = 収集しなかったもの、完全には収集できなかったもの
not-collected-none = 収集中に見つかったものはすべて完全に収集しました。
col-reason = 理由
col-count = 件数
col-examples = 例
reason-permission = アクセス拒否: 収集者に読み取りが許可されていませんでした。
reason-vanished = 消失: 見つかってから読み取るまでの間に削除されました。
reason-excluded = 意図的に除外しました(--exclude)。
reason-other-filesystem = 別のファイルシステム上: 記録のみで、中には入っていません。
reason-changed-while-read = 読み取り中に変化した使用中のファイル: 読み取った内容を保存しています。
reason-read-error = 読み取りが途中で失敗したか、読み取り中に収集が停止しました。
reason-other = その他の理由で調べることも読むこともできませんでした。
examples-more = ほか { $n-text } 件(JSON 報告書を参照)。

## Activity

h-activity = 時間に沿った活動
window-default = 表示する期間は、収集開始までの 30 日間({ $from } から { $to } まで)です。
window-given = 表示する期間は、指定された { $from } から { $to } までです。
activity-intro = 期間の区間ごとに、内容が変更・メタデータが変更・作成されたファイルの数を領域別に示します。時刻は収集したホストのファイルシステムによるもので、十分な権限を持つ侵入者は偽装できます。いつ何が起きたかの証明ではなく、手がかりです。
activity-none = この期間に時刻を持つ収集ファイルはありません。
activity-unproven = 赤い点は、証明されていないファイルの時刻 { $n-text } 件を含む区間を示します。
activity-no-btime = ホストのファイルシステムが作成日時を報告しなかったため、作成日時はありません。
svg-title = 期間中のファイル活動(領域別)
svg-bar = { $kind }: { $n-text } 件
svg-unproven = 未証明のファイルを含む
kind-mtime = 内容の変更
kind-ctime = メタデータの変更
kind-btime = 作成

## Persistence places

h-persistence = 侵入者が居座る・隠れる場所での変更
persistence-intro = 侵入者が再侵入や潜伏に使う場所(SSH 鍵、アカウント、sudo の設定、定期実行、サービス、シェルの起動ファイルと履歴、事前読み込みライブラリ、Web ルート、一時フォルダ)で、期間中に変更されたファイルです。新しい順に示します。ここでの変更は調べるべき手がかりであり、結論ではありません。
persistence-none = これらの場所で期間中に変更されたファイルはありません。
persistence-count = これらの場所で { $n-text } 件のファイルが変更されました。新しい { $shown-text } 件を示します。
col-changed = 変更日時
col-path = ファイル
col-place = 場所
col-owner = 所有者と権限
col-proof = 証明
place-ssh-keys = ログインを許可する SSH 鍵
place-ssh-config = SSH サーバー・クライアントの設定
place-accounts = ユーザーアカウントとグループ
place-sudoers = sudo の設定
place-preload = 事前読み込みライブラリ
place-cron = 定期実行タスク
place-services = 自動起動するサービス
place-pam = ログインモジュール(PAM)
place-shell-startup = シェルの起動ファイル
place-shell-history = シェルの履歴
place-web-root = Web ルート
place-temp = 一時フォルダ
proof-proven = 証明済み
proof-matches-listing = 署名済みの一覧と一致(未証明)
proof-altered = 改変あり
proof-unproven = 未証明

## Intrusion clues

h-clues = 侵入経路の最初の手がかり(アーカイブ内のログから)
clues-intro = アーカイブ内のログインログ(auth.log または secure、wtmp、btmp)から読み取った内容です。調査の手がかりであり、結論ではありません。ログは不完全なことがあり、ローテーションで消えたり侵入者に偽装されたりすることがあります。
clues-no-logs = アーカイブにはこの報告書で読めるログインログがないため、手がかりは示していません。
clues-logs-read = { $n-text } 件のログを読みました:
clues-log-lines = ({ $n-text } 行または件)
h-clues-logins = SSH ログイン(成功と失敗、ユーザーと接続元アドレス別)
h-clues-sudo = sudo の使用
h-clues-accounts = 追加・変更されたユーザーと鍵
clues-none = 見つかりませんでした。
clues-truncated = ログの内容が報告書に収める上限を超えました。どの一覧が切り詰められたかは JSON 報告書に示します。
clues-key-used = 鍵 { $key } が { $source } から初めて使われました
login-accepted = 成功
login-failed = 失敗
col-outcome = 結果
col-user = ユーザー
col-source = 接続元
col-method = 方法
col-first = 最初
col-last = 最後
col-run-as = 実行ユーザー
col-command = コマンド

## Footer

mark-title = この数値には証明されていないファイルやフォルダが { $n-text } 件含まれます。
mark-explained = は、検証済みのチェックポイントで証明されていないファイルやフォルダを含む数値を示します。証拠として信頼できません。
footer-times = 日時は { $zone } で示します。JSON 報告書では UTC で示します。
footer-generated = custody { $version } により { $time } に作成。
