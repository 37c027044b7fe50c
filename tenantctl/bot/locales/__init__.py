"""Every user-facing string of the bot, in ru, en and fa. Messages are plain text (no parse mode).

The registration, renewal and greeting texts are here; each larger area keeps its own module of
texts in this package (`admin_panel`), merged into MESSAGES once, a key defined once.
"""

from __future__ import annotations

from typing import Any

from tenantctl.bot.locales import admin_panel, dashboard, storefront
from tenantctl.tenants.rules import LANGUAGES

FALLBACK_LANGUAGE = "en"  # the interface language for a person whose language is unknown (not a bot's default)
LANGUAGE_NAMES = {"ru": "Русский", "en": "English", "fa": "فارسی"}

MESSAGES: dict[str, dict[str, str]] = {
    # the registration steps
    "start_new": {
        "en": "Let's register your own bot. Send /cancel at any time to stop.",
        "ru": "Зарегистрируем ваш собственный бот. Отправьте /cancel, чтобы прервать в любой момент.",
        "fa": "بیایید ربات خودتان را ثبت کنیم. هر زمان خواستید /cancel را بفرستید.",
    },
    "resumed": {
        "en": "You have a registration in progress: let's continue where you left off.",
        "ru": "У вас есть незавершённая регистрация: продолжим с того же места.",
        "fa": "یک ثبت‌نام نیمه‌کاره دارید: از همان‌جا ادامه می‌دهیم.",
    },
    "ask_bot_name": {
        "en": "Step 1/7. Send the name of your bot (3 to 64 characters).",
        "ru": "Шаг 1/7. Отправьте название бота (от 3 до 64 символов).",
        "fa": "مرحله ۱ از ۷. نام ربات خود را بفرستید (۳ تا ۶۴ نویسه).",
    },
    "ask_bot_token": {
        "en": "Step 2/7. Send your bot's token from @BotFather (it looks like 123456:ABC-DEF...).",
        "ru": "Шаг 2/7. Отправьте токен бота от @BotFather (вида 123456:ABC-DEF...).",
        "fa": "مرحله ۲ از ۷. توکن ربات را از ‎@BotFather بفرستید (شبیه 123456:ABC-DEF...).",
    },
    "ask_language": {
        "en": "Step 3/7. Choose your bot's language.",
        "ru": "Шаг 3/7. Выберите язык бота.",
        "fa": "مرحله ۳ از ۷. زبان ربات را انتخاب کنید.",
    },
    "ask_support": {
        "en": "Step 4/7. Send the support username (like @my_support), or press Skip.",
        "ru": "Шаг 4/7. Отправьте имя пользователя поддержки (например, @my_support) или нажмите «Пропустить».",
        "fa": "مرحله ۴ از ۷. نام کاربری پشتیبانی را بفرستید (مثل ‎@my_support) یا «رد شدن» را بزنید.",
    },
    "ask_plan": {
        "en": "Step 5/7. Choose a plan:",
        "ru": "Шаг 5/7. Выберите тариф:",
        "fa": "مرحله ۵ از ۷. یک طرح انتخاب کنید:",
    },
    "plan_line": {
        "en": "• {name}: {price} a month, activation fee {fee} ({stars} ⭐). Features: {features}",
        "ru": "• {name}: {price} в месяц, плата за активацию {fee} ({stars} ⭐). Возможности: {features}",
        "fa": "• {name}: ماهانه {price}، هزینهٔ فعال‌سازی {fee} ({stars} ⭐). امکانات: {features}",
    },
    "all_features": {"en": "all features", "ru": "все возможности", "fa": "همهٔ امکانات"},
    "no_features": {"en": "basic", "ru": "базовые", "fa": "پایه"},
    "no_plans": {
        "en": "No plans are open for registration right now. Please try again later.",
        "ru": "Сейчас нет тарифов, открытых для регистрации. Попробуйте позже.",
        "fa": "در حال حاضر طرحی برای ثبت‌نام وجود ندارد. لطفاً بعداً تلاش کنید.",
    },
    "ask_method": {
        "en": "Step 6/7. Activation fee: {fee}. How would you like to pay?",
        "ru": "Шаг 6/7. Плата за активацию: {fee}. Как вы хотите оплатить?",
        "fa": "مرحله ۶ از ۷. هزینهٔ فعال‌سازی: {fee}. چگونه پرداخت می‌کنید؟",
    },
    "ask_method_waived": {
        "en": "Step 6/7. As a master admin you register without the activation fee.",
        "ru": "Шаг 6/7. Как администратор платформы вы регистрируетесь без платы за активацию.",
        "fa": "مرحله ۶ از ۷. به عنوان مدیر اصلی، بدون هزینهٔ فعال‌سازی ثبت‌نام می‌کنید.",
    },
    "confirm": {
        "en": "Step 7/7. Please check:\nName: {name}\nBot: @{username}\nLanguage: {language}\nSupport: {support}\nPlan: {plan}\nPayment: {payment}\nIs everything right?",
        "ru": "Шаг 7/7. Проверьте:\nНазвание: {name}\nБот: @{username}\nЯзык: {language}\nПоддержка: {support}\nТариф: {plan}\nОплата: {payment}\nВсё верно?",
        "fa": "مرحله ۷ از ۷. لطفاً بررسی کنید:\nنام: {name}\nربات: ‎@{username}\nزبان: {language}\nپشتیبانی: {support}\nطرح: {plan}\nپرداخت: {payment}\nهمه‌چیز درست است؟",
    },
    "none": {"en": "none", "ru": "нет", "fa": "ندارد"},
    "waived": {"en": "free (fee waived)", "ru": "бесплатно (плата не взимается)", "fa": "رایگان (بدون هزینه)"},
    # buttons
    "btn_back": {"en": "« Back", "ru": "« Назад", "fa": "« بازگشت"},
    "btn_cancel": {"en": "Cancel", "ru": "Отмена", "fa": "لغو"},
    "btn_skip": {"en": "Skip", "ru": "Пропустить", "fa": "رد شدن"},
    "btn_stars": {"en": "Telegram Stars ({amount})", "ru": "Telegram Stars ({amount})", "fa": "ستاره‌های تلگرام ({amount})"},
    "btn_card": {"en": "Card transfer ({amount})", "ru": "Перевод на карту ({amount})", "fa": "کارت به کارت ({amount})"},
    "btn_waived": {"en": "Continue without fee", "ru": "Продолжить без оплаты", "fa": "ادامه بدون هزینه"},
    "btn_confirm": {"en": "Confirm", "ru": "Подтвердить", "fa": "تأیید"},
    "btn_approve": {"en": "Approve", "ru": "Одобрить", "fa": "تأیید پرداخت"},
    "btn_reject": {"en": "Reject", "ru": "Отклонить", "fa": "رد پرداخت"},
    # payment
    "invoice_title": {"en": "Bot activation", "ru": "Активация бота", "fa": "فعال‌سازی ربات"},
    "invoice_description": {
        "en": "Activation fee for {name} (plan {plan})",
        "ru": "Плата за активацию {name} (тариф {plan})",
        "fa": "هزینهٔ فعال‌سازی {name} (طرح {plan})",
    },
    "pay_invoice": {
        "en": "Pay the invoice below to finish. Press Back to change something.",
        "ru": "Оплатите счёт ниже, чтобы завершить. Нажмите «Назад», чтобы что-то изменить.",
        "fa": "برای پایان، صورت‌حساب زیر را پرداخت کنید. برای تغییر، «بازگشت» را بزنید.",
    },
    "card_instructions": {
        "en": "Transfer {amount} to the card {card} ({holder}{bank}), then send the receipt here as a photo or text.",
        "ru": "Переведите {amount} на карту {card} ({holder}{bank}) и пришлите сюда чек фото или текстом.",
        "fa": "مبلغ {amount} را به کارت {card} ({holder}{bank}) واریز کنید و رسید را به صورت عکس یا متن اینجا بفرستید.",
    },
    "receipt_received": {
        "en": "Thank you! Your receipt was sent to the administrators. You will get an answer here.",
        "ru": "Спасибо! Чек отправлен администраторам. Ответ придёт сюда.",
        "fa": "سپاس! رسید برای مدیران ارسال شد. پاسخ همین‌جا می‌آید.",
    },
    "admin_receipt": {
        "en": "Activation payment #{payment} to review: {name} (@{username}), plan {plan}, user {user}, {amount}.\nReceipt: {receipt}",
        "ru": "Платёж за активацию #{payment} на проверку: {name} (@{username}), тариф {plan}, пользователь {user}, {amount}.\nЧек: {receipt}",
        "fa": "پرداخت فعال‌سازی #{payment} برای بررسی: {name} (‎@{username})، طرح {plan}، کاربر {user}، {amount}.\nرسید: {receipt}",
    },
    "receipt_photo": {"en": "photo above", "ru": "фото выше", "fa": "عکس بالا"},
    "admin_ask_reason": {
        "en": "Send the reason for rejecting payment #{payment}; the user will see it.",
        "ru": "Напишите причину отклонения платежа #{payment}; пользователь её увидит.",
        "fa": "دلیل رد پرداخت #{payment} را بفرستید؛ کاربر آن را می‌بیند.",
    },
    "admin_approved": {
        "en": "Payment #{payment} approved: {name} is registered.",
        "ru": "Платёж #{payment} одобрен: {name} зарегистрирован.",
        "fa": "پرداخت #{payment} تأیید شد: {name} ثبت شد.",
    },
    "admin_rejected": {
        "en": "Payment #{payment} rejected; the user was told why.",
        "ru": "Платёж #{payment} отклонён; пользователю сообщена причина.",
        "fa": "پرداخت #{payment} رد شد؛ دلیل به کاربر گفته شد.",
    },
    "user_rejected": {
        "en": "Your payment was not accepted: {reason}\nSend another receipt, or /cancel.",
        "ru": "Ваш платёж не принят: {reason}\nПришлите другой чек или /cancel.",
        "fa": "پرداخت شما پذیرفته نشد: {reason}\nرسید دیگری بفرستید یا /cancel.",
    },
    "done": {
        "en": "Your bot {name} (@{username}) is registered and already running!\nYour API token: {token}\nStore it somewhere safe now: it is shown only once.",
        "ru": "Ваш бот {name} (@{username}) зарегистрирован и уже работает!\nВаш API-токен: {token}\nСохраните его в надёжном месте: он показывается только один раз.",
        "fa": "ربات شما {name} (‎@{username}) ثبت شد و همین حالا فعال است!\nتوکن API شما: {token}\nآن را همین حالا در جای امنی نگه دارید: فقط یک بار نمایش داده می‌شود.",
    },
    "already_done": {
        "en": "This registration is already complete.",
        "ru": "Эта регистрация уже завершена.",
        "fa": "این ثبت‌نام قبلاً کامل شده است.",
    },
    "refund_scheduled": {
        "en": "The payment could not be applied ({reason}). It will be refunded in full; the refund is on its way.",
        "ru": "Платёж не удалось применить ({reason}). Он будет полностью возвращён; возврат уже в пути.",
        "fa": "پرداخت قابل اعمال نبود ({reason}). به‌طور کامل بازگردانده می‌شود؛ بازپرداخت در راه است.",
    },
    "payment_recorded": {
        "en": "Your payment is received and safely recorded. We are finishing it and will write to you shortly.",
        "ru": "Ваш платёж получен и надёжно записан. Мы завершаем его обработку и скоро напишем вам.",
        "fa": "پرداخت شما دریافت و ثبت شد. در حال تکمیل آن هستیم و به‌زودی به شما پیام می‌دهیم.",
    },
    "admin_approve_refused": {
        "en": "Payment #{payment} approved, but the registration could not be completed ({reason}): return the money by hand (see tenantctl billing refunds).",
        "ru": "Платёж #{payment} одобрен, но регистрацию не удалось завершить ({reason}): верните деньги вручную (см. tenantctl billing refunds).",
        "fa": "پرداخت #{payment} تأیید شد، اما ثبت‌نام کامل نشد ({reason}): پول را دستی بازگردانید (tenantctl billing refunds را ببینید).",
    },
    "card_refund_by_hand": {
        "en": "The payment could not be applied ({reason}). The platform will return your money by card transfer.",
        "ru": "Платёж не удалось применить ({reason}). Платформа вернёт вам деньги переводом на карту.",
        "fa": "پرداخت قابل اعمال نبود ({reason}). پلتفرم پول شما را با انتقال کارت بازمی‌گرداند.",
    },
    "refunded_refused": {
        "en": "The payment could not be applied ({reason}), so it has been refunded in full.",
        "ru": "Платёж не удалось применить ({reason}), поэтому он полностью возвращён.",
        "fa": "پرداخت قابل اعمال نبود ({reason})، پس به‌طور کامل بازگردانده شد.",
    },
    "cancelled": {
        "en": "Registration cancelled. Send /register_tenant to start again.",
        "ru": "Регистрация отменена. Отправьте /register_tenant, чтобы начать заново.",
        "fa": "ثبت‌نام لغو شد. برای شروع دوباره /register_tenant را بفرستید.",
    },
    "nothing_to_cancel": {
        "en": "There is nothing to cancel.",
        "ru": "Отменять нечего.",
        "fa": "چیزی برای لغو وجود ندارد.",
    },
    "waiting_review": {
        "en": "Your receipt is being reviewed. You will get an answer here.",
        "ru": "Ваш чек проверяется. Ответ придёт сюда.",
        "fa": "رسید شما در حال بررسی است. پاسخ همین‌جا می‌آید.",
    },
    "master_welcome": {
        "en": "Hello! Send /register_tenant to get your own bot.",
        "ru": "Здравствуйте! Отправьте /register_tenant, чтобы получить собственного бота.",
        "fa": "سلام! برای داشتن ربات خودتان /register_tenant را بفرستید.",
    },
    # errors (service error keys)
    "error_prefix": {"en": "⚠️ {reason}", "ru": "⚠️ {reason}", "fa": "⚠️ {reason}"},
    "name_length": {
        "en": "The name must be 3 to 64 characters.",
        "ru": "Название должно быть от 3 до 64 символов.",
        "fa": "نام باید بین ۳ تا ۶۴ نویسه باشد.",
    },
    "name_taken": {
        "en": "A bot with this name, or one that looks like it, exists already: choose another name.",
        "ru": "Бот с таким или похожим названием уже есть: выберите другое.",
        "fa": "رباتی با این نام یا نامی شبیه به آن وجود دارد: نام دیگری انتخاب کنید.",
    },
    "token_format": {
        "en": "That is not a bot token. Copy it exactly as @BotFather sent it (digits, a colon, then letters).",
        "ru": "Это не токен бота. Скопируйте его точно так, как прислал @BotFather (цифры, двоеточие, затем буквы).",
        "fa": "این توکن ربات نیست. آن را دقیقاً همان‌طور که ‎@BotFather فرستاده کپی کنید (عدد، دونقطه، سپس حروف).",
    },
    "token_master": {
        "en": "That is the platform's own bot token. Create your own bot with @BotFather.",
        "ru": "Это токен бота самой платформы. Создайте собственного бота через @BotFather.",
        "fa": "این توکن ربات خود پلتفرم است. ربات خودتان را با ‎@BotFather بسازید.",
    },
    "token_taken": {
        "en": "This bot is already registered. Each tenant needs its own bot from @BotFather.",
        "ru": "Этот бот уже зарегистрирован. Каждому арендатору нужен свой бот от @BotFather.",
        "fa": "این ربات قبلاً ثبت شده است. هر مستأجر به ربات خودش از ‎@BotFather نیاز دارد.",
    },
    "token_rejected": {
        "en": "Telegram did not accept this token (getMe failed). Check it with @BotFather and send it again.",
        "ru": "Telegram не принял этот токен (getMe не прошёл). Проверьте его у @BotFather и отправьте снова.",
        "fa": "تلگرام این توکن را نپذیرفت (getMe ناموفق بود). آن را در ‎@BotFather بررسی و دوباره ارسال کنید.",
    },
    "language_unknown": {"en": "Choose one of the buttons.", "ru": "Выберите одну из кнопок.", "fa": "یکی از دکمه‌ها را انتخاب کنید."},
    "support_invalid": {
        "en": "That is not a Telegram username: 5 to 32 letters, digits or _, starting with a letter, like @my_support.",
        "ru": "Это не имя пользователя Telegram: 5–32 буквы, цифры или _, начиная с буквы, например @my_support.",
        "fa": "این نام کاربری تلگرام نیست: ۵ تا ۳۲ حرف، رقم یا _، که با حرف شروع شود، مثل ‎@my_support.",
    },
    "plan_unknown": {
        "en": "That plan is not available: choose one of the buttons.",
        "ru": "Этот тариф недоступен: выберите одну из кнопок.",
        "fa": "این طرح در دسترس نیست: یکی از دکمه‌ها را انتخاب کنید.",
    },
    "card_unavailable": {
        "en": "Card payments are not available right now: choose another method.",
        "ru": "Оплата картой сейчас недоступна: выберите другой способ.",
        "fa": "پرداخت کارتی اکنون در دسترس نیست: روش دیگری انتخاب کنید.",
    },
    "method_unknown": {"en": "Choose one of the buttons.", "ru": "Выберите одну из кнопок.", "fa": "یکی از دکمه‌ها را انتخاب کنید."},
    "step_out_of_order": {
        "en": "That button belongs to an earlier step.",
        "ru": "Эта кнопка относится к предыдущему шагу.",
        "fa": "این دکمه مربوط به مرحلهٔ قبلی است.",
    },
    "btn_home": {"en": "⌂ Home", "ru": "⌂ Главная", "fa": "⌂ خانه"},
    "button_expired": {
        "en": "This button has expired.",
        "ru": "Срок действия этой кнопки истёк.",
        "fa": "این دکمه منقضی شده است.",
    },
    "not_payable": {
        "en": "This registration cannot be paid now: it was changed, cancelled or paid already.",
        "ru": "Эту регистрацию сейчас нельзя оплатить: она изменена, отменена или уже оплачена.",
        "fa": "اکنون نمی‌توان این ثبت‌نام را پرداخت کرد: تغییر کرده، لغو شده یا قبلاً پرداخت شده است.",
    },
    "receipt_empty": {
        "en": "Send the receipt as a photo or as text.",
        "ru": "Пришлите чек фото или текстом.",
        "fa": "رسید را به صورت عکس یا متن بفرستید.",
    },
    "forbidden": {
        "en": "You are not allowed to do this.",
        "ru": "У вас нет прав на это действие.",
        "fa": "شما اجازهٔ این کار را ندارید.",
    },
    "already_paid": {
        "en": "This registration was already paid.",
        "ru": "Эта регистрация уже оплачена.",
        "fa": "این ثبت‌نام قبلاً پرداخت شده است.",
    },
    "payment_unknown": {"en": "Unknown payment.", "ru": "Неизвестный платёж.", "fa": "پرداخت ناشناخته."},
    "already_approved": {"en": "This payment was approved already.", "ru": "Этот платёж уже одобрен.", "fa": "این پرداخت قبلاً تأیید شده است."},
    "already_rejected": {"en": "This payment was rejected already.", "ru": "Этот платёж уже отклонён.", "fa": "این پرداخت قبلاً رد شده است."},
    "reason_required": {"en": "Please write a reason.", "ru": "Напишите причину.", "fa": "لطفاً دلیل را بنویسید."},
    "unexpected": {
        "en": "Something went wrong on our side. Please try again in a minute.",
        "ru": "Что-то пошло не так на нашей стороне. Попробуйте через минуту.",
        "fa": "مشکلی از سمت ما پیش آمد. لطفاً یک دقیقهٔ دیگر تلاش کنید.",
    },
    # renewals and expiry
    "renewal_title": {"en": "Subscription renewal", "ru": "Продление подписки", "fa": "تمدید اشتراک"},
    "renewal_description": {
        "en": "One more month for {name}",
        "ru": "Ещё один месяц для {name}",
        "fa": "یک ماه دیگر برای {name}",
    },
    "renewal_paid": {
        "en": "Thank you! {name} is renewed until {date}.",
        "ru": "Спасибо! {name} продлён до {date}.",
        "fa": "سپاس! {name} تا {date} تمدید شد.",
    },
    "expired_notice": {
        "en": "The subscription of your bot {name} ended on {date}, so the bot has stopped. Pay the renewal invoice (send /renew to get one) and it starts again at once.",
        "ru": "Подписка вашего бота {name} закончилась {date}, поэтому бот остановлен. Оплатите счёт на продление (отправьте /renew, чтобы получить его), и бот сразу заработает.",
        "fa": "اشتراک ربات شما {name} در {date} به پایان رسید و ربات متوقف شد. صورت‌حساب تمدید را پرداخت کنید (برای دریافت آن /renew را بفرستید) تا فوراً دوباره فعال شود.",
    },
    "nothing_to_renew": {
        "en": "You have no bot to renew.",
        "ru": "У вас нет бота для продления.",
        "fa": "رباتی برای تمدید ندارید.",
    },
    # tenant bots
    "tenant_welcome": {
        "en": "Welcome to {name}!",
        "ru": "Добро пожаловать в {name}!",
        "fa": "به {name} خوش آمدید!",
    },
    "tenant_support": {"en": "Support: {support}", "ru": "Поддержка: {support}", "fa": "پشتیبانی: {support}"},
}


def _merge(*areas: dict[str, dict[str, str]]) -> None:
    for area in areas:
        clash = MESSAGES.keys() & area.keys()
        if clash:
            raise RuntimeError(f"message keys defined twice: {sorted(clash)}")
        MESSAGES.update(area)


_merge(admin_panel.MESSAGES, dashboard.MESSAGES, storefront.MESSAGES)


def pick_language(stored: str | None, telegram_code: str | None) -> str:
    """The user's stored choice, then Telegram's language_code, then English."""
    for candidate in (stored, (telegram_code or "").split("-")[0].lower()):
        if candidate in LANGUAGES:
            return candidate
    return FALLBACK_LANGUAGE


def t(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang` (English if missing), formatted with `values`."""
    entry = MESSAGES[key]
    return entry.get(lang, entry[FALLBACK_LANGUAGE]).format(**values)


_PERSIAN = str.maketrans("0123456789,.", "۰۱۲۳۴۵۶۷۸۹٬٫")
_RUSSIAN = str.maketrans(",.", "\u202f,")
GB = 1024**3
TB = 1024**4


def number(lang: str, value: float, decimals: int = 0) -> str:
    """A number for people in `lang`, thousands separated: 12,345.6 (en), 12 345,6 (ru), ۱۲٬۳۴۵٫۶ (fa)."""
    text = f"{value:,.{decimals}f}"
    return text.translate(_PERSIAN) if lang == "fa" else text.translate(_RUSSIAN) if lang == "ru" else text


def money(lang: str, kopeks: int) -> str:
    """Kopeks as rubles for people in `lang`, exactly: 1,234.50 ₽."""
    rubles, cents = divmod(abs(kopeks), 100)
    text = f"{'-' if kopeks < 0 else ''}{rubles:,}.{cents:02d} ₽"
    return text.translate(_PERSIAN) if lang == "fa" else text.translate(_RUSSIAN) if lang == "ru" else text


def traffic(lang: str, size_bytes: int) -> str:
    """Bytes in GB, or TB from 1 TB on."""
    return f"{number(lang, size_bytes / TB, 2)} TB" if size_bytes >= TB else f"{number(lang, size_bytes / GB, 1)} GB"


def error_text(lang: str, exc: Exception) -> str:
    """A service error as a localized line: by its code or message when that is a key here, else as it is."""
    key = getattr(exc, "code", None) or str(exc)
    return t(lang, "error_prefix", reason=t(lang, key) if key in MESSAGES else str(exc))
