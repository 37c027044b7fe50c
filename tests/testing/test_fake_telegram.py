"""Tests for the fake Telegram Bot API, driven by real aiogram bots over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)
from aiohttp import ClientSession, web

from tenantctl.testing.fake_telegram import FakeBot, FakeTelegram, buttons, find_button

USER = 1001


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest_asyncio.fixture
async def fbot(fake: FakeTelegram) -> FakeBot:
    return fake.add_bot(username="shop_bot")


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram, fbot: FakeBot) -> AsyncIterator[Bot]:
    client = Bot(fbot.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    yield client
    await client.session.close()


def _keyboard(text: str, data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)]])


def _router() -> Router:
    router = Router()

    @router.message(Command("buy"))
    async def buy(message: Message) -> None:
        await message.answer_invoice(
            title="Pro", description="Pro plan", payload="plan:pro", currency="XTR",
            prices=[LabeledPrice(label="Pro", amount=100)],
        )

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.message(F.successful_payment)
    async def paid(message: Message, bot: Bot) -> None:
        charge_id = message.successful_payment.telegram_payment_charge_id
        await bot.refund_star_payment(message.from_user.id, charge_id)

    @router.message(F.text)
    async def echo(message: Message) -> None:
        text = f"echo: {message.text} ({message.from_user.language_code})"
        await message.answer(text, reply_markup=_keyboard("Again", "again"))

    @router.callback_query(F.data == "again")
    async def again(query: CallbackQuery) -> None:
        await query.answer("ok")
        await query.message.edit_text("pressed")

    return router


@pytest_asyncio.fixture
async def polling(bot: Bot) -> AsyncIterator[None]:
    dp = Dispatcher()
    dp.include_router(_router())
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    yield
    await dp.stop_polling()
    await task


@pytest.mark.asyncio
async def test_get_me_and_unauthorized(fake: FakeTelegram, fbot: FakeBot, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (fbot.id, "shop_bot", True)
    assert fbot.token.startswith(f"{fbot.id}:") and len(fbot.token.split(":")[1]) == 35

    fake.remove_bot(fbot.token)
    with pytest.raises(TelegramUnauthorizedError):
        await bot.get_me()


@pytest.mark.asyncio
@pytest.mark.usefixtures("polling")
async def test_echo_and_callback_via_polling(fbot: FakeBot) -> None:
    update = fbot.send_message(USER, "hello", language_code="de")
    call = await fbot.wait_for("sendMessage")
    assert call.params["chat_id"] == USER
    assert call.result["text"] == "echo: hello (de)"
    assert buttons(call) == [("Again", "again")]

    [sent] = fbot.messages(USER)
    assert sent["message_id"] == update["message"]["message_id"] + 1
    assert sent["from"]["id"] == fbot.id

    mark = fbot.mark()
    pressed = fbot.press_button(USER, sent, find_button(sent, "Again"))
    assert pressed["update_id"] == update["update_id"] + 1
    await fbot.wait_for("editMessageText", after=mark)
    answer = fbot.calls("answerCallbackQuery")[-1]
    assert answer.ok and answer.params["text"] == "ok"
    assert fbot.messages(USER)[0]["text"] == "pressed"
    assert fbot.messages(USER)[0].get("reply_markup") is None
    with pytest.raises(AssertionError, match="no button"):
        fbot.press_button(USER, sent["message_id"], "again")


@pytest.mark.asyncio
@pytest.mark.usefixtures("polling")
async def test_star_invoice_checkout_payment_and_refund(fbot: FakeBot) -> None:
    fbot.send_message(USER, "/buy")
    invoice = (await fbot.wait_for("sendInvoice")).result
    assert invoice["invoice"] == {
        "title": "Pro",
        "description": "Pro plan",
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": 100,
    }

    fbot.checkout(USER, invoice)
    refund = await fbot.wait_for("refundStarPayment")
    assert refund.ok
    [payment] = fbot.payments
    assert payment["invoice_payload"] == "plan:pro" and payment["total_amount"] == 100
    assert payment["refunded"] is True
    assert fbot.refunds[0]["telegram_payment_charge_id"] == payment["telegram_payment_charge_id"]
    assert fbot.calls("answerPreCheckoutQuery")[0].params["ok"] is True


@pytest.mark.asyncio
async def test_payment_errors(fbot: FakeBot, bot: Bot) -> None:
    price = [LabeledPrice(label="Pro", amount=100)]
    with pytest.raises(TelegramBadRequest, match="provider_token"):
        await bot.send_invoice(USER, "Pro", "Pro plan", "p", "XTR", price, provider_token="tok")
    with pytest.raises(TelegramBadRequest, match="exactly one"):
        await bot.send_invoice(USER, "Pro", "Pro plan", "p", "XTR", price * 2)

    invoice = await bot.send_invoice(USER, "Pro", "Pro plan", "p", "XTR", price)
    query_id = fbot.checkout(USER, invoice.message_id)["pre_checkout_query"]["id"]
    assert await bot.answer_pre_checkout_query(query_id, ok=False, error_message="sold out")
    assert fbot.calls("answerPreCheckoutQuery")[-1].params["error_message"] == "sold out"
    assert fbot.payments == []
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_pre_checkout_query(query_id, ok=True)
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(USER, "stxUnknown")


async def _until_polling(fbot: FakeBot, polls: int) -> None:
    """Wait until the fake has received ``polls`` getUpdates requests (the last one still pending)."""
    while fbot._poll_generation < polls:
        await asyncio.sleep(0.005)


@pytest.mark.asyncio
async def test_long_poll_offset_and_conflicts(fbot: FakeBot, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await _until_polling(fbot, 1)
    first = fbot.send_message(USER, "one")
    [update] = await asyncio.wait_for(poll, 2)
    assert update.update_id == first["update_id"]

    fbot.send_message(USER, "two")
    assert [u.message.text for u in await bot.get_updates(offset=update.update_id + 1)] == ["two"]

    older = asyncio.create_task(bot.get_updates(offset=update.update_id + 2, timeout=5))
    await _until_polling(fbot, 3)
    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await older


@pytest.mark.asyncio
async def test_webhook_delivery_and_getupdates_conflict(fbot: FakeBot, bot: Bot) -> None:
    received: list[dict] = []

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "s3cret":
            return web.Response(status=403)
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        fbot.send_message(USER, "queued before webhook")
        assert await bot.set_webhook(url, secret_token="s3cret")
        update = fbot.send_message(USER, "hi")
        for _ in range(100):
            if len(fbot.webhook_deliveries) == 2:
                break
            await asyncio.sleep(0.01)
        assert fbot.webhook_deliveries == [(update["update_id"] - 1, 200), (update["update_id"], 200)]
        assert received[1]["message"]["text"] == "hi"
        assert (await bot.get_webhook_info()).url == url
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        await bot.set_webhook(url, secret_token="wrong")
        fbot.send_message(USER, "rejected")
        for _ in range(100):
            if len(fbot.webhook_deliveries) == 3:
                break
            await asyncio.sleep(0.01)
        assert fbot.webhook_deliveries[-1][1] == 403
        assert "403" in (await bot.get_webhook_info()).last_error_message

        assert await bot.delete_webhook()
        assert fbot.webhook is None and await bot.get_updates() == []
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_message_rules_photos_and_unknown_methods(fbot: FakeBot, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(USER, "<br>", parse_mode="HTML")
    sent = await bot.send_message(USER, "<b>Bold</b> &amp; plain", parse_mode="HTML")
    assert sent.text == "Bold & plain"
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_text("Bold & plain", chat_id=USER, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "hi", reply_markup=_keyboard("x", "x" * 65))

    uploaded = await bot.send_photo(USER, BufferedInputFile(b"\x89PNG", "cat.png"), caption="cat")
    assert uploaded.caption == "cat" and len(uploaded.photo) == 3
    assert fbot.calls("sendPhoto")[0].params["photo"] == {"filename": "cat.png", "content": b"\x89PNG"}
    again = await bot.send_photo(USER, uploaded.photo[-1].file_id)
    assert again.photo[-1].file_id == uploaded.photo[-1].file_id

    assert await bot.delete_message(USER, sent.message_id)
    mark = fbot.mark()
    assert [m["message_id"] for m in fbot.messages(USER)] == [uploaded.message_id, again.message_id]
    assert await bot.send_chat_action(USER, "typing") is True
    assert [call.method for call in fbot.unknown] == ["sendChatAction"]

    with pytest.raises(AssertionError, match="sendChatAction"):
        await fbot.wait_for("sendMessage", timeout=0.05, after=mark)


@pytest.mark.asyncio
async def test_markup_edits_commands_and_chat(fbot: FakeBot, bot: Bot) -> None:
    fbot.send_message(USER, "/start", first_name="Ann", username="ann")
    sent = await bot.send_message(USER, "menu", reply_markup=_keyboard("Go", "go"))
    edited = await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)
    assert edited.reply_markup is None and buttons(fbot.messages(USER)[0]) == []
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)

    assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="Start")])
    chat = await bot.get_chat(USER)
    assert (chat.type, chat.first_name, chat.username) == ("private", "Ann", "ann")

    [update] = await bot.get_updates()
    assert update.message.entities[0].type == "bot_command"
    assert update.message.from_user.language_code == "en"
    assert await bot.delete_webhook(drop_pending_updates=True)
    fbot.send_message(USER, "dropped")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []


@pytest.mark.asyncio
async def test_json_body_and_query_params(fake: FakeTelegram, fbot: FakeBot) -> None:
    base = f"{fake.base_url}/bot{fbot.token}"
    async with ClientSession() as http:
        async with http.post(f"{base}/sendMessage", json={"chat_id": USER, "text": "42"}) as resp:
            assert (await resp.json())["result"]["text"] == "42"
        async with http.get(f"{base}/sendMessage", params={"chat_id": str(USER), "text": "q"}) as resp:
            assert (await resp.json())["result"]["chat"]["id"] == USER
        async with http.get(f"{fake.base_url}/bot1:nope/getMe") as resp:
            assert resp.status == 401 and (await resp.json())["description"] == "Unauthorized"
    assert [m["text"] for m in fbot.messages(USER)] == ["42", "q"]
