"""Off-topic reference sentences for abstention.

A question is compared with the corpus and with these sentences on everyday subjects. When the
corpus matches it no better than this background does, the corpus does not answer it. The list is
about subjects news readers also ask about, in both languages, and mentions no corpus content.
"""

BACKGROUND: tuple[str, ...] = (
    "明天北京有小雨，气温在十度左右，出门请带伞。",
    "这道红烧肉的做法是先焯水，再加冰糖和酱油慢炖一个小时。",
    "法国的首都是巴黎，埃菲尔铁塔是著名的旅游景点。",
    "这支足球队在昨晚的比赛中以二比一战胜了对手。",
    "医生建议每天喝八杯水，并保证七小时以上的睡眠。",
    "这部电影讲述了一个年轻人离开家乡去大城市闯荡的故事。",
    "高铁票可以在开车前十五天通过手机购买。",
    "这只猫每天早上七点准时叫主人起床。",
    "他的公司去年净利润为两亿元，员工人数超过三千人。",
    "学校将在九月一日开学，新生需要提前报到。",
    "这家餐厅的招牌菜是北京烤鸭，人均消费一百五十元。",
    "股市今天小幅上涨，成交量比昨天有所减少。",
    "这本小说的作者出生于一九六零年，曾获得多项文学奖。",
    "房价在过去一年里基本保持稳定，租金略有上升。",
    "感冒的时候应该多休息，必要时去医院就诊。",
    "长城是世界上最长的军事防御工程之一。",
    "他每周去健身房三次，主要练习跑步和游泳。",
    "这款手机的电池容量为五千毫安时，支持快速充电。",
    "The weather tomorrow will be cloudy with a chance of rain in the afternoon.",
    "To make pancakes, mix flour, eggs and milk, then fry them in a hot pan.",
    "Paris is the capital of France and home to the Eiffel Tower.",
    "The football team won the match two to one last night.",
    "Doctors recommend drinking enough water and sleeping at least seven hours.",
    "The film tells the story of a young woman who moves to a big city.",
    "Train tickets can be booked online up to fifteen days in advance.",
    "The company reported a net profit of two hundred million dollars and employs three thousand people.",
    "The school year starts on the first of September.",
    "The restaurant is famous for its roast duck and costs about twenty dollars per person.",
    "Stock markets rose slightly today on lower trading volume.",
    "The author of the novel was born in 1960 and won several literary prizes.",
    "House prices were stable over the past year while rents rose a little.",
    "If you catch a cold, rest and see a doctor if it gets worse.",
    "The Great Wall is one of the longest defensive structures in the world.",
    "He goes to the gym three times a week to run and swim.",
    "The phone has a large battery and supports fast charging.",
    "The museum is open from nine in the morning until five in the afternoon.",
)
