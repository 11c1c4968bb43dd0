"""The seed's guess-a-number game (webot ``waitRule`` example) as a Python rules module.

Load it with ``WECHAT_APP = {"RULE_MODULES": ["examples.guess_number"]}`` (or copy it into an app's
``wechat_rules.py``), then send ``game`` (or ``game 7`` to fix the answer, ``游戏`` works too).

The answer is kept in the user's session; the wait rule compares each guess, says "too big" or
"too small" and asks again (``rewait``) at most twice, then tells the answer. Anything that is
not a number ends the game and is answered by the ordinary rules (``resolve``).
"""
import random

from wechat_app.engine import rule, wait_rule

MAX_REWAITS = 2


@wait_rule("wait_guess")
def wait_guess(message, context):
    try:
        guess = int((message.text or "").strip())
    except ValueError:  # the user does not want to play any more
        context.resolve()
        return None
    answer = context.session["guess_answer"]
    if guess == answer:
        return "你真聪明!"
    if context.rewait_count >= MAX_REWAITS:
        return f"怎么这样都猜不出来!答案是 {answer} 啊!"
    hint = "大了" if guess > answer else "小了"
    return context.rewait(f"{hint}, 还有 {MAX_REWAITS - context.rewait_count} 次机会, 再猜.")


@rule("guess number", regex=r"(?:game|玩?游戏)\s*(\d*)")
def guess_number(message, context):
    """发送: game , 玩玩猜数字的游戏吧"""
    context.session["guess_answer"] = int(context.captures[1] or 0) or random.randint(1, 9)
    context.wait("wait_guess")
    return "玩玩猜数字的游戏吧, 1~9,选一个"
