"""Chat ops: a Telegram bot run by the maintenance service when TELEGRAM_BOT_TOKEN is set.

It answers /status, /positions, /pnl, /orders, /halt and /resume for the chat ids in
TELEGRAM_CHAT_IDS only; any other chat is refused, logged and audited, and gets no answer.
"""
