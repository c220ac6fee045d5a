"""Word lists the difference check reads: opposites, units and operators
(English and Chinese).

General vocabulary, not phrases of any benchmark: pairs of words whose swap turns
a question into another one (an action and its reverse, a direction, a quantity
and its opposite, a group of people and another), measurement units, and the
symbols that are operators in code and formulas.
"""

from __future__ import annotations

# Each line: words of one side | words of the other side. Any word on the left
# against any word on the right is an opposite (English words also match their
# plain inflections: -s, -es, -d, -ed, -ing).
_EN_OPPOSITES = """
enable activate turn on switch on | disable deactivate turn off switch off
buy purchase | sell
open | close shut
start begin | stop end finish
increase raise grow | decrease reduce lower shrink
add insert | remove delete drop
include | exclude
allow permit accept approve | deny forbid prohibit block reject refuse
import | export
upload | download
push | pull
encrypt | decrypt
encode | decode
compress | decompress extract
login log in sign in | logout log out sign out
subscribe | unsubscribe
install | uninstall
lock | unlock
mount | unmount
connect | disconnect
attach | detach
show | hide
expand | collapse
maximum max maximize | minimum min minimize
most | least
more | less fewer
higher | lower
high | low
highest | lowest
above | below
over | under
upper | lower
up | down
before | after
earlier | later
early | late
first | last
next | previous
past | future
ascending asc | descending desc
increasing | decreasing
positive | negative
true | false
yes | no
success succeed | failure fail
pass | fail
win | lose
gain | loss
profit | loss
income | expense
credit | debit
deposit | withdraw withdrawal
borrow | lend
send | receive
give | take
import | export
input | output
inbound incoming | outbound outgoing
left | right
north | south
east | west
inside internal | outside external
front | back
top | bottom
hot | cold
warm | cool
heat | cool
fast quick | slow
long | short
big large | small little
heavy | light
strong | weak
hard | soft easy
wide | narrow
thick | thin
deep | shallow
full | empty
rich | poor
cheap | expensive
safe | dangerous unsafe
legal | illegal
valid | invalid
public | private
local | remote global
online | offline
visible | invisible hidden
internal | external
adult adults grown-up | child children kid kids minor infant baby babies
man men male | woman women female
boy | girl
husband | wife
father | mother
son | daughter
brother | sister
old | new young
oldest | newest youngest
older | newer younger
always | never
everyone everybody all | nobody none
may might optional | must required mandatory
permitted | required
postpone delay defer | advance expedite bring forward
accept | decline
include | omit
win | lose
arrive arrival | depart departure leave
entry enter | exit
import | export
inhale | exhale
rise | fall
appreciate | depreciate
bull bullish | bear bearish
long | short
upgrade | downgrade
increment | decrement
forward | backward reverse
horizontal | vertical
row rows | column columns
client | server
sync synchronous | async asynchronous
uppercase upper case | lowercase lower case
read | write
get | set
min | max
sum | difference
multiply | divide
plus add | minus subtract
odd | even
prefix | suffix
before | after
"""

_ZH_OPPOSITES = """
开启 打开 启用 激活 开通 | 关闭 关掉 禁用 停用 关上
买 买入 购买 | 卖 卖出 出售
升序 | 降序
升 涨 上涨 上升 增加 增长 提高 | 降 跌 下跌 下降 减少 降低
成人 大人 成年人 | 儿童 小孩 孩子 婴儿 宝宝 未成年人
男 男性 男人 | 女 女性 女人
大 | 小
多 | 少
高 | 低
长 | 短
快 | 慢
早 | 晚
新 | 旧 老
冷 | 热
上 | 下
前 | 后
左 | 右
东 | 西
南 | 北
内 | 外
进 | 出
入 | 出
加 | 减
增 | 减
收 | 支
借 | 还
借入 | 借出
存 存款 | 取 取款
输入 | 输出
上传 | 下载
导入 | 导出
登录 | 退出 注销
安装 | 卸载
加密 | 解密
压缩 | 解压
连接 | 断开
显示 | 隐藏
允许 | 禁止
接受 同意 | 拒绝
成功 | 失败
赢 | 输
盈利 | 亏损
收入 | 支出
最大 | 最小
最高 | 最低
最多 | 最少
最早 | 最晚
最快 | 最慢
提前 | 推迟 延期 延迟
可以 可能 | 必须
正 | 负
真 | 假
对 | 错
是 | 否
有 | 无
去 | 来
来 | 回
发送 | 接收
优点 | 缺点
好处 | 坏处
上午 | 下午
白天 | 晚上
父亲 爸爸 | 母亲 妈妈
儿子 | 女儿
哥哥 弟弟 | 姐姐 妹妹
丈夫 老公 | 妻子 老婆
公开 | 私有 私密
在线 | 离线
"""


def _pairs(table: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The (left words, right words) of each line of a table above. English lines
    separate words by spaces, except known phrases written with spaces inside
    (those are kept whole by listing them in :data:`_EN_PHRASES`)."""
    pairs = []
    for line in table.strip().splitlines():
        left, right = line.split("|")
        pairs.append((_words(left), _words(right)))
    return pairs


_EN_PHRASES = (
    "turn on",
    "switch on",
    "turn off",
    "switch off",
    "log in",
    "sign in",
    "log out",
    "sign out",
    "bring forward",
    "upper case",
    "lower case",
)


def _words(side: str) -> tuple[str, ...]:
    text = f" {side.strip()} "
    found: list[str] = []
    for phrase in _EN_PHRASES:
        if f" {phrase} " in text:
            found.append(phrase)
            text = text.replace(f" {phrase} ", " ")
    found.extend(text.split())
    return tuple(found)


#: Opposite pairs: (left words, right words), English and Chinese.
EN_OPPOSITES = _pairs(_EN_OPPOSITES)
ZH_OPPOSITES = _pairs(_ZH_OPPOSITES)

#: Prefixes that turn an English word into its opposite ("lock" / "unlock").
NEGATING_PREFIXES = ("un", "dis", "in", "im", "il", "ir", "non", "de", "anti", "counter")

#: Measurement and time units: a pair that differs in one asks another quantity.
_UNITS = """
    mg g kg lb lbs oz ml l liter liters litre litres gallon gallons cup cups tsp tbsp
    mm cm m km inch inches ft foot feet yard yards mile miles mph kph kmh
    second seconds minute minutes hour hours day days week weeks month months year years
    ms s sec min h hr hrs
    kb mb gb tb kib mib gib bit bits byte bytes
    usd eur gbp jpy cny rmb dollar dollars euro euros pound pounds yen yuan cent cents
    percent celsius fahrenheit kelvin c f
    毫克 公斤 千克 吨 毫升 毫米 厘米 公里 千米
    秒 分钟 小时 星期 美元 欧元 英镑 日元 摄氏度 华氏度
"""
UNITS = frozenset(_UNITS.split())

#: Symbols that are operators in code and formulas (punctuation of prose is not).
_OPERATORS = (
    "== != === !== <= >= < > = += -= *= /= %= ** // / * + - % ^ & | && || << >> >>> ?? ?. "
    "-> => :: .. ... @ # $ \u2264 \u2265 \u2260 \u00b1 \u00d7 \u00f7 \u221a \u2211 \u222b \u221e "
    "\u2192 \u2190"
)
OPERATORS = frozenset(_OPERATORS.split())
