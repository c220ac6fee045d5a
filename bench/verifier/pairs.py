"""Deterministic generator of labelled question pairs (English and Chinese) for
fitting the verifier: paraphrases (label 1) and near-misses (label 0) of the kinds
a bi-encoder confuses -- another key noun, another number, negation on one side,
swapped direction or roles.

Everything here is written for this project (no external data). Run
``python bench/verifier/pairs.py`` to print the pairs as JSON lines.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator

Pair = tuple[str, str, int]

EN_OBJECTS = [
    ("password", "router"),
    ("email address", "home address"),
    ("credit card", "debit card"),
    ("laptop", "phone"),
    ("bank account", "savings plan"),
    ("printer", "scanner"),
    ("flight", "hotel booking"),
    ("subscription", "free trial"),
    ("username", "profile photo"),
    ("car insurance", "health insurance"),
    ("python script", "excel sheet"),
    ("wifi", "bluetooth"),
]
EN_ACTIONS = ["reset", "change", "cancel", "update", "fix", "renew", "delete", "set up"]
EN_PLACES = [
    ("london", "paris"),
    ("new york", "boston"),
    ("tokyo", "osaka"),
    ("berlin", "munich"),
    ("seattle", "vancouver"),
    ("rome", "milan"),
]
EN_CONVERT = [
    ("celsius", "fahrenheit"),
    ("pounds", "kilograms"),
    ("miles", "kilometers"),
    ("dollars", "euros"),
    ("pdf", "word"),
    ("inches", "centimeters"),
]
EN_TOPICS = [
    "machine learning",
    "inflation",
    "a mortgage",
    "photosynthesis",
    "an api",
    "a vector database",
    "compound interest",
    "a black hole",
]

ZH_OBJECTS = [
    ("密码", "路由器"),
    ("邮箱", "地址"),
    ("信用卡", "借记卡"),
    ("电脑", "手机"),
    ("花呗", "借呗"),
    ("打印机", "扫描仪"),
    ("机票", "酒店"),
    ("会员", "试用"),
    ("头像", "昵称"),
    ("车险", "医保"),
    ("微信", "支付宝"),
    ("蓝牙", "网络"),
]
ZH_ACTIONS = ["重置", "修改", "取消", "更新", "开通", "关闭", "删除", "设置"]
ZH_PLACES = [
    ("深圳", "上海"),
    ("北京", "广州"),
    ("杭州", "南京"),
    ("成都", "重庆"),
    ("武汉", "长沙"),
    ("天津", "青岛"),
]
ZH_CONVERT = [
    ("人民币", "美元"),
    ("公斤", "斤"),
    ("英里", "公里"),
    ("摄氏度", "华氏度"),
    ("图片", "文字"),
    ("视频", "音频"),
]
ZH_TOPICS = ["机器学习", "通货膨胀", "房贷", "光合作用", "大模型", "向量数据库", "复利", "黑洞"]
ZH_NUMBERS = ["两", "三", "五", "十", "一百", "3", "7", "12"]
EN_NUMBERS = ["2", "3", "5", "10", "100", "two", "three", "five"]


def _en(rng: random.Random) -> Iterator[Pair]:
    for (obj, other), action in zip(
        EN_OBJECTS, rng.sample(EN_ACTIONS * 2, len(EN_OBJECTS)), strict=True
    ):
        yield f"how do i {action} my {obj}", f"how can i {action} my {obj}?", 1
        yield f"How do I {action} my {obj}?", f"what are the steps to {action} my {obj}", 1
        yield f"how do i {action} my {obj}", f"how do i {action} my {other}", 0
        yield f"can I {action} my {obj} online", f"can I {action} my {other} online", 0
        yield f"how do i {action} my {obj}", f"why can't i {action} my {obj}", 0
        yield f"is it possible to {action} my {obj}", f"is it not possible to {action} my {obj}", 0
        yield f"Should I {action} my {obj}?", f"should i {action} my {obj} or not", 1
    for a, b in EN_PLACES:
        yield f"how long is the flight from {a} to {b}", f"flight time from {a} to {b}?", 1
        yield f"how long does it take from {a} to {b}", f"how long does it take from {b} to {a}", 0
        yield f"cheapest train from {a} to {b}", f"cheapest train from {b} to {a}", 0
        yield f"what is the distance from {a} to {b}", f"how far is {b} from {a}", 1
        yield f"is {a} bigger than {b}", f"is {b} bigger than {a}", 0
    for a, b in EN_CONVERT:
        yield f"how to convert {a} to {b}", f"how do I convert {a} into {b}", 1
        yield f"how to convert {a} to {b}", f"how to convert {b} to {a}", 0
    for topic in EN_TOPICS:
        yield f"what is {topic}", f"can you explain what {topic} is", 1
        yield f"what is {topic}?", f"what is not {topic}?", 0
        yield f"explain {topic} simply", f"explain {topic} in simple terms", 1
        yield f"is {topic} useful", f"is {topic} useless", 0
    for n, m in zip(EN_NUMBERS, EN_NUMBERS[3:] + EN_NUMBERS[:3], strict=True):
        yield f"give me {n} ideas for dinner", f"give me {m} ideas for dinner", 0
        yield f"what is {n} plus {m}", f"what is {m} plus {m}", 0
        yield f"give me {n} ideas for dinner", f"suggest {n} dinner ideas", 1
        yield f"summarize this in {n} sentences", f"summarise this in {n} sentences", 1


def _zh(rng: random.Random) -> Iterator[Pair]:
    for (obj, other), action in zip(
        ZH_OBJECTS, rng.sample(ZH_ACTIONS * 2, len(ZH_OBJECTS)), strict=True
    ):
        yield f"怎么{action}{obj}", f"如何{action}{obj}", 1
        yield f"{obj}怎么{action}", f"{obj}要怎么{action}呢", 1
        yield f"怎么{action}{obj}", f"怎么{action}{other}", 0
        yield f"我的{obj}能{action}吗", f"我的{other}能{action}吗", 0
        yield f"{obj}可以{action}吗", f"{obj}不可以{action}吗", 0
        yield f"{obj}为什么能{action}", f"{obj}为什么不能{action}", 0
        yield f"{obj}能不能{action}", f"{obj}可以{action}吗", 1
    for a, b in ZH_PLACES:
        yield f"{a}到{b}要多久", f"从{a}到{b}需要多长时间", 1
        yield f"{a}到{b}要多久", f"{b}到{a}要多久", 0
        yield f"从{a}去{b}坐什么车", f"从{b}去{a}坐什么车", 0
        yield f"{a}到{b}的高铁票多少钱", f"{a}到{b}高铁票价是多少", 1
        yield f"{a}比{b}大吗", f"{b}比{a}大吗", 0
    for a, b in ZH_CONVERT:
        yield f"怎么把{a}换成{b}", f"{a}如何转换成{b}", 1
        yield f"怎么把{a}换成{b}", f"怎么把{b}换成{a}", 0
    for topic in ZH_TOPICS:
        yield f"什么是{topic}", f"{topic}是什么", 1
        yield f"什么是{topic}", f"{topic}不是什么", 0
        yield f"{topic}是什么意思", f"请解释一下{topic}", 1
        yield f"{topic}有用吗", f"{topic}没用吗", 0
    for n, m in zip(ZH_NUMBERS, ZH_NUMBERS[3:] + ZH_NUMBERS[:3], strict=True):
        yield f"推荐{n}本书", f"推荐{m}本书", 0
        yield f"{n}天能学会游泳吗", f"{m}天能学会游泳吗", 0
        yield f"推荐{n}本书", f"给我推荐{n}本书", 1
        yield f"{n}个月的宝宝吃什么", f"{n}个月大的宝宝吃什么", 1


def generated_pairs(seed: int = 20251122) -> list[Pair]:
    """All generated pairs, in a fixed order (same seed: same list)."""
    rng = random.Random(seed)
    return list(_en(rng)) + list(_zh(rng))


if __name__ == "__main__":
    for a, b, label in generated_pairs():
        sys.stdout.write(json.dumps({"a": a, "b": b, "label": label}, ensure_ascii=False) + "\n")
