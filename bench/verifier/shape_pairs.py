"""Labelled question pairs for the prompt-shape suite (``shapes.py``), written for
this project: near-misses (label 0: serving one's answer for the other is wrong)
and paraphrases (label 1), English and Chinese, plus code and operator pairs.

The near-misses are of the kinds users meet: another entity, an action and its
reverse, another number or unit, negation on one side, another group of people,
another time; the paraphrases reword, reorder or only change case and
punctuation. Nothing here was chosen to suit the verifier's word lists.
"""

from __future__ import annotations

Pair = tuple[str, str]

EN_NEAR_MISS: list[Pair] = [
    ("How do I turn on dark mode in Outlook?", "How do I turn off dark mode in Outlook?"),
    (
        "What is the recommended dose of ibuprofen for a toddler?",
        "What is the recommended dose of ibuprofen for an adult?",
    ),
    ("Is it a good time to buy gold?", "Is it a good time to sell gold?"),
    ("What is the capital of Canada?", "What is the capital of Australia?"),
    ("How many calories are in a banana?", "How many calories are in an avocado?"),
    (
        "Can I bring a laptop in my carry-on bag?",
        "Can I bring a power bank in my carry-on bag?",
    ),
    (
        "How do I sort a list in descending order in Python?",
        "How do I sort a list in ascending order in Python?",
    ),
    ("What time does the pharmacy close on Sunday?", "What time does the pharmacy open on Sunday?"),
    (
        "How long should I boil an egg for a runny yolk?",
        "How long should I boil an egg for a firm yolk?",
    ),
    ("How far is it from Madrid to Lisbon?", "How far is it from Madrid to Porto?"),
    (
        "What are the side effects of stopping antidepressants?",
        "What are the side effects of starting antidepressants?",
    ),
    ("Why is my phone battery draining fast?", "Why is my phone battery charging slowly?"),
    ("Do I need a visa to visit Japan?", "Do I need a visa to work in Japan?"),
    ("How do I upgrade my plan?", "How do I downgrade my plan?"),
    (
        "What is the maximum file size for email attachments?",
        "What is the minimum file size for email attachments?",
    ),
    ("How do I increase the font size in Word?", "How do I decrease the font size in Word?"),
    ("Should I take the medicine before meals?", "Should I take the medicine after meals?"),
    ("How do I add a user to a Slack channel?", "How do I remove a user from a Slack channel?"),
    ("Can my landlord enter without notice?", "Can my landlord evict me without notice?"),
    ("How much does a 2-year warranty cost?", "How much does a 3-year warranty cost?"),
    ("Is it safe to drink tap water in Mexico?", "Is it safe to drink tap water in Iceland?"),
    ("How do I export contacts from my iPhone?", "How do I import contacts to my iPhone?"),
    (
        "What is the penalty for paying taxes late?",
        "What is the penalty for not paying taxes?",
    ),
    (
        "How many hours of sleep does a teenager need?",
        "How many hours of sleep does a senior need?",
    ),
    ("How do I make my wifi faster?", "How do I make my wifi more secure?"),
    (
        "Can I cancel my flight within 24 hours for free?",
        "Can I change my flight within 24 hours for free?",
    ),
    (
        "Has the application deadline been extended?",
        "Has the application deadline been moved earlier?",
    ),
    ("Can I pay in installments?", "Can I pay in cash?"),
    ("Is the store open on public holidays?", "Is the store closed on public holidays?"),
    ("How do I lock my screen on Windows?", "How do I unlock my screen on Windows?"),
]

EN_PARAPHRASE: list[Pair] = [
    ("How do I turn on dark mode in Outlook?", "How can I enable dark mode in Outlook?"),
    ("What is the capital of Canada?", "Which city is Canada's capital?"),
    ("How many calories are in a banana?", "How many calories does a banana have?"),
    ("How do I reset my router?", "What's the way to reset my router?"),
    (
        "what time does the pharmacy close on sunday",
        "What time does the pharmacy close on Sunday?",
    ),
    ("Do I need a visa to visit Japan?", "Is a visa required to visit Japan?"),
    (
        "How do I sort a list in descending order in Python?",
        "How can I sort a Python list in descending order?",
    ),
    ("How can I get a refund for my order?", "How do I get my money back for my order?"),
    ("What is the boiling point of water?", "At what temperature does water boil?"),
    ("How do I delete my account?", "How can I delete my account?"),
    ("Where can I find my invoice?", "Where do I find my invoice?"),
    ("How do I change my password?", "How can I change my password?"),
    ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?"),
    ("How long does shipping take?", "How long does delivery take?"),
    ("Is it safe to drink tap water in Mexico?", "Can you safely drink the tap water in Mexico?"),
    ("How do I upgrade my plan?", "How can I upgrade my plan?"),
    ("What are your opening hours?", "When are you open?"),
    ("How do I add a user to a Slack channel?", "How can I add someone to a Slack channel?"),
    ("What is the population of Brazil?", "How many people live in Brazil?"),
    ("How do I take a screenshot on a Mac?", "How can I take a screenshot on my Mac?"),
    ("What does HTTP 404 mean?", "What is the meaning of HTTP 404?"),
    ("How do I install Python on Windows?", "How can I install Python on Windows?"),
    (
        "Can I return an item without a receipt?",
        "Is it possible to return an item without a receipt?",
    ),
    ("How do I export contacts from my iPhone?", "How can I export my iPhone contacts?"),
    ("WHAT IS THE REFUND POLICY?", "what is the refund policy"),
    ("How much does shipping cost?", "What does shipping cost?"),
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("What is machine learning?", "What's machine learning?"),
    ("How do I convert a PDF to Word?", "How can I convert a PDF into a Word document?"),
    ("Why is my laptop overheating?", "Why does my laptop overheat?"),
]

ZH_NEAR_MISS: list[Pair] = [
    ("如何打开微信的深色模式", "如何关闭微信的深色模式"),
    ("儿童感冒药怎么吃", "成人感冒药怎么吃"),
    ("现在适合买入黄金吗", "现在适合卖出黄金吗"),
    ("日本的首都是哪里", "韩国的首都是哪里"),
    ("北京到上海的高铁要多久", "北京到广州的高铁要多久"),
    ("怎么把列表按升序排列", "怎么把列表按降序排列"),
    ("药店周日几点关门", "药店周日几点开门"),
    ("苹果手机怎么截屏", "华为手机怎么截屏"),
    ("信用卡逾期一天会怎样", "信用卡逾期一个月会怎样"),
    ("怎么调大字体", "怎么调小字体"),
    ("会员为什么不能退款", "会员为什么能退款"),
    ("这个药饭前吃吗", "这个药饭后吃吗"),
    ("如何上传照片到云盘", "如何从云盘下载照片"),
    ("一公斤等于多少斤", "一公里等于多少里"),
    ("怎么添加微信好友", "怎么删除微信好友"),
    ("孕妇可以喝咖啡吗", "孕妇可以喝酒吗"),
    ("猫一天吃几顿", "狗一天吃几顿"),
    ("上午几点开始营业", "下午几点开始营业"),
    ("怎么取消自动续费", "怎么开通自动续费"),
    ("三年期定期存款利率是多少", "五年期定期存款利率是多少"),
    ("坐飞机可以带充电宝吗", "坐高铁可以带充电宝吗"),
    ("如何预订明天的机票", "如何改签明天的机票"),
    ("人体的最高体温是多少", "人体的最低体温是多少"),
    ("怎么申请延期还款", "怎么申请提前还款"),
]

ZH_PARAPHRASE: list[Pair] = [
    ("如何打开微信的深色模式", "微信深色模式怎么开启"),
    ("日本的首都是哪里", "日本首都是哪个城市"),
    ("苹果手机怎么截屏", "苹果手机如何截图"),
    ("怎么取消自动续费", "如何取消自动续费"),
    ("会员可以退款吗", "会员能退款吗"),
    ("信用卡逾期会怎样", "信用卡逾期有什么后果"),
    ("怎么修改登录密码", "如何修改登录密码"),
    ("快递一般几天能到", "快递通常几天到"),
    ("坐飞机可以带充电宝吗", "乘飞机能带充电宝吗"),
    ("如何注销账号", "怎样注销账号"),
    ("这个药饭前吃吗", "这个药是饭前吃吗"),
    ("猫一天吃几顿", "猫每天吃几顿"),
    ("怎么把照片传到电脑上", "如何把照片传到电脑"),
    ("水的沸点是多少度", "水在多少度沸腾"),
    ("怎么查看订单物流", "如何查看订单的物流信息"),
    ("发票在哪里下载", "在哪里可以下载发票"),
    ("如何更换手机号", "怎么更换绑定的手机号"),
    ("营业时间是几点到几点", "你们几点开门几点关门"),
    ("怎么开发票", "如何开具发票"),
    ("《红楼梦》的作者是谁", "谁写了《红楼梦》"),
    ("如何申请退款", "怎么申请退款"),
    ("一年有多少天", "一年共有多少天"),
    ("为什么手机充电很慢", "手机充电为什么这么慢"),
    ("Wi-Fi密码怎么改", "怎么修改Wi-Fi密码"),
]

_LOOP = "```python\nfor i in range(10):\n    print(i)\n```\n"
_MAP = "```js\nconst doubled = [1, 2, 3].map(n => n * 2)\n```\n"

CODE_NEAR_MISS: list[Pair] = [
    ("In Python, what does `10 // 3` return?", "In Python, what does `10 / 3` return?"),
    ("What does `x == None` do in Python?", "What does `x is None` do in Python?"),
    (
        "Explain this SQL: SELECT * FROM users WHERE age >= 21",
        "Explain this SQL: SELECT * FROM users WHERE age <= 21",
    ),
    (
        "Why does `a && b` short-circuit in JavaScript?",
        "Why does `a || b` short-circuit in JavaScript?",
    ),
    (
        _LOOP + "What does this print?",
        _LOOP.replace("range(10)", "range(1, 10)") + "What does this print?",
    ),
    (_MAP + "What is doubled?", _MAP.replace("n * 2", "n + 2") + "What is doubled?"),
    ("What is 2 ** 10?", "What is 2 * 10?"),
    ("What does i++ return in C?", "What does ++i return in C?"),
    ("What does git reset --hard do?", "What does git reset --soft do?"),
    (
        "```python\nxs = [1, 2, 3]\nprint(xs[-1])\n```\nWhat is printed?",
        "```python\nxs = [1, 2, 3]\nprint(xs[1])\n```\nWhat is printed?",
    ),
    (
        "What's the difference between `let` and `var`?",
        "What's the difference between `let` and `const`?",
    ),
    ("Is 0.1 + 0.2 == 0.3 true in Python?", "Is 0.1 + 0.2 != 0.3 true in Python?"),
]

CODE_PARAPHRASE: list[Pair] = [
    ("In Python, what does `10 // 3` return?", "What does `10 // 3` return in Python?"),
    (_LOOP + "What does this print?", _LOOP + "What is the output of this code?"),
    (
        "Explain this SQL: SELECT * FROM users WHERE age >= 21",
        "What does this SQL do: SELECT * FROM users WHERE age >= 21",
    ),
    ("What does git reset --hard do?", "What does `git reset --hard` do?"),
    ("What is 2 ** 10?", "What's 2 ** 10?"),
    ("How do I reverse a list in Python?", "How can I reverse a Python list?"),
]

#: Templates the questions are put into ({q}: the question).
EN_INSTRUCTION = (
    "You are a helpful customer support assistant for an online store. Answer in at most "
    "three sentences and be polite. If you are not sure, say that you do not know; never "
    "invent order numbers or prices.\n\nQuestion: {q}"
)
ZH_INSTRUCTION = (
    "你是一家网上商店的客服助手。请用不超过三句话回答，语气要礼貌。"
    "如果不确定，请直接说不知道，不要编造订单号或价格。\n\n问题：{q}"
)
EN_INLINE = "Answer the following question briefly and accurately, in plain language: {q}"
ZH_INLINE = "请用通俗的语言简洁准确地回答下面的问题：{q}"
EN_CONTEXT = (
    "Our store ships to 40 countries. Standard delivery takes 3 to 5 business days and "
    "express delivery 1 to 2 days. Orders can be returned within 30 days with the original "
    "receipt; refunds are paid to the original payment method within 10 days. Customer "
    "service is available Monday to Friday from 9am to 6pm."
)
EN_CONTEXT_OTHER = (
    "The museum is open Tuesday to Sunday from 10am to 5pm and closed on Mondays. Tickets "
    "cost 15 euros for adults; children under 12 enter for free. Guided tours in English "
    "start every day at 11am and 2pm, and the cafe on the top floor serves lunch."
)
ZH_CONTEXT = (
    "本店支持全国配送，普通快递3到5个工作日送达，加急1到2天。商品签收后30天内可凭原始小票退货，"
    "退款会在10天内退回原支付账户。客服工作时间为周一至周五上午9点到下午6点。"
)
ZH_CONTEXT_OTHER = (
    "博物馆周二至周日上午10点到下午5点开放，周一闭馆。成人票价80元，12岁以下儿童免费。"
    "每天上午11点和下午2点有中文讲解，顶楼的咖啡厅提供午餐。"
)
EN_RAG = "Use only the context to answer the question.\n\nContext:\n{context}\n\nQuestion: {q}"
ZH_RAG = "请只根据下面的资料回答问题。\n\n资料：\n{context}\n\n问题：{q}"
EN_SYSTEM = "You are a concise assistant. Answer in English."
ZH_SYSTEM = "你是一个简洁的助手，请用中文回答。"
