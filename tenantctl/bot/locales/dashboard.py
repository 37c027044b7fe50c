"""The texts of the tenant admin dashboard (/dashboard in a tenant bot, /my_bots in the master bot), in ru, en and fa."""

from __future__ import annotations


def _m(en: str, ru: str, fa: str) -> dict[str, str]:
    return {"en": en, "ru": ru, "fa": fa}


MESSAGES: dict[str, dict[str, str]] = {
    # entry
    "db_btn_open": _m("📊 Dashboard", "📊 Панель управления", "📊 داشبورد"),
    "db_my_bots": _m("Your bots: choose one to manage.", "Ваши боты: выберите, каким управлять.",
                     "ربات‌های شما: یکی را برای مدیریت انتخاب کنید."),
    "db_no_bots": _m("You do not own or administer any bot yet. /register_tenant creates one.",
                     "У вас пока нет ботов, которыми вы владеете или управляете. /register_tenant создаст бота.",
                     "هنوز رباتی ندارید که مالک یا مدیرش باشید. با ‎/register_tenant یکی بسازید."),
    "db_bot_line": _m("{name} ({status}, {role})", "{name} ({status}, {role})", "{name} ({status}، {role})"),
    "db_home": _m("{name}: dashboard\nUsers: {users}\nActive subscriptions: {active}\nIncome, 30 days: {income}",
                  "{name}: панель управления\nПользователи: {users}\nАктивные подписки: {active}\nДоход за 30 дней: {income}",
                  "{name}: داشبورد\nکاربران: {users}\nاشتراک‌های فعال: {active}\nدرآمد ۳۰ روز: {income}"),
    "db_btn_stats": _m("📈 Statistics", "📈 Статистика", "📈 آمار"),
    "db_btn_plans": _m("Plans", "Тарифы", "طرح‌ها"),
    "db_btn_cards": _m("Payment cards", "Карты для оплаты", "کارت‌های پرداخت"),
    "db_btn_gateways": _m("Payment settings", "Настройки оплаты", "تنظیمات پرداخت"),
    "db_btn_admins": _m("Admins", "Администраторы", "مدیران"),
    "db_btn_my_bots": _m("My bots", "Мои боты", "ربات‌های من"),
    "db_cancelled": _m("Cancelled.", "Отменено.", "لغو شد."),
    "db_saved": _m("Saved.", "Сохранено.", "ذخیره شد."),
    "db_nothing": _m("Nothing here yet.", "Здесь пока пусто.", "هنوز چیزی اینجا نیست."),
    # statistics
    "db_stats_title": _m("{name}: statistics, {period} (previous period in brackets)",
                         "{name}: статистика, {period} (в скобках — предыдущий период)",
                         "{name}: آمار، {period} (دورهٔ قبل در پرانتز)"),
    "db_period_today": _m("today", "сегодня", "امروز"),
    "db_period_7d": _m("7 days", "7 дней", "۷ روز"),
    "db_period_30d": _m("30 days", "30 дней", "۳۰ روز"),
    "db_period_month": _m("this month", "этот месяц", "این ماه"),
    "db_period_all": _m("all time", "всё время", "همهٔ زمان‌ها"),
    "db_stats_users": _m(
        "👥 Users: {total}, active {active}, blocked {blocked}\nNew: today {new_today}, 7 d {new_7d}, 30 d {new_30d}; "
        "in the period {new} ({new_prev})",
        "👥 Пользователи: {total}, активных {active}, заблокировали {blocked}\nНовые: сегодня {new_today}, 7 дн. {new_7d}, "
        "30 дн. {new_30d}; за период {new} ({new_prev})",
        "👥 کاربران: {total}، فعال {active}، مسدود {blocked}\nجدید: امروز {new_today}، ۷ روز {new_7d}، ۳۰ روز {new_30d}؛ "
        "در این دوره {new} ({new_prev})"),
    "db_stats_subscriptions": _m(
        "🔑 Subscriptions: active {active}, trial {trial}, paid {paid}, expired {expired}\nExpiring: in 3 days {exp3}, "
        "in 7 days {exp7}\nTrial → paid: {conversion}\nPurchases {purchases} ({purchases_prev}), renewals {renewals} ({renewals_prev})",
        "🔑 Подписки: активных {active}, пробных {trial}, платных {paid}, истёкших {expired}\nИстекают: за 3 дня {exp3}, "
        "за 7 дней {exp7}\nПробная → платная: {conversion}\nПокупки {purchases} ({purchases_prev}), продления {renewals} ({renewals_prev})",
        "🔑 اشتراک‌ها: فعال {active}، آزمایشی {trial}، پولی {paid}، منقضی {expired}\nرو به انقضا: ۳ روز {exp3}، "
        "۷ روز {exp7}\nآزمایشی ← پولی: {conversion}\nخرید {purchases} ({purchases_prev})، تمدید {renewals} ({renewals_prev})"),
    "db_stats_revenue": _m(
        "💰 Income {income} ({income_prev})\nRefunds {refunds}, withdrawals {withdrawals}\nProfit {profit} ({profit_prev})\n"
        "ARPU {arpu}\nPlatform commission ({share}%) {commission}, net {net}",
        "💰 Доход {income} ({income_prev})\nВозвраты {refunds}, выводы {withdrawals}\nПрибыль {profit} ({profit_prev})\n"
        "ARPU {arpu}\nКомиссия платформы ({share}%) {commission}, чистыми {net}",
        "💰 درآمد {income} ({income_prev})\nبازپرداخت {refunds}، برداشت {withdrawals}\nسود {profit} ({profit_prev})\n"
        "میانگین درآمد هر کاربر {arpu}\nکارمزد پلتفرم ({share}٪) {commission}، خالص {net}"),
    "db_stats_method": _m("  • {method}: {count} × = {amount}", "  • {method}: {count} шт. = {amount}", "  • {method}: {count} مورد = {amount}"),
    "db_stats_traffic": _m("📶 Traffic: consumed {consumed} ({consumed_prev}), sold {sold}; sold/consumed {ratio}",
                           "📶 Трафик: израсходовано {consumed} ({consumed_prev}), продано {sold}; продано/израсходовано {ratio}",
                           "📶 ترافیک: مصرف {consumed} ({consumed_prev})، فروخته {sold}؛ فروخته/مصرف {ratio}"),
    "db_method_card_to_card": _m("card to card", "с карты на карту", "کارت به کارت"),
    "db_method_telegram_stars": _m("Telegram Stars", "Telegram Stars", "ستاره‌های تلگرام"),
    "db_btn_income_chart": _m("Income chart", "График дохода", "نمودار درآمد"),
    "db_btn_traffic_chart": _m("Traffic chart", "График трафика", "نمودار ترافیک"),
    "db_chart_income": _m("{name}: income per day, last 30 days", "{name}: доход по дням, последние 30 дней",
                          "{name}: درآمد روزانه، ۳۰ روز اخیر"),
    "db_chart_traffic": _m("{name}: traffic per day, last 30 days", "{name}: трафик по дням, последние 30 дней",
                           "{name}: ترافیک روزانه، ۳۰ روز اخیر"),
    # plans
    "db_plans": _m("{name}: plans for your users", "{name}: тарифы для ваших пользователей", "{name}: طرح‌ها برای کاربران شما"),
    "db_plan_line": _m("{name}: {price}, {days} days, {traffic}, {devices} devices{archived}",
                       "{name}: {price}, {days} дн., {traffic}, устройств: {devices}{archived}",
                       "{name}: {price}، {days} روز، {traffic}، {devices} دستگاه{archived}"),
    "db_archived": _m(" (archived)", " (в архиве)", " (بایگانی‌شده)"),
    "db_unlimited": _m("unlimited", "безлимит", "نامحدود"),
    "db_btn_add_plan": _m("➕ New plan", "➕ Новый тариф", "➕ طرح جدید"),
    "db_btn_price": _m("Price", "Цена", "قیمت"),
    "db_btn_period": _m("Period", "Срок", "مدت"),
    "db_btn_traffic": _m("Traffic", "Трафик", "ترافیک"),
    "db_btn_devices": _m("Devices", "Устройства", "دستگاه‌ها"),
    "db_btn_archive": _m("Archive", "В архив", "بایگانی"),
    "db_btn_restore": _m("Restore", "Вернуть из архива", "بازگرداندن"),
    "db_ask_archive": _m("Archive plan {name}? Users will no longer be offered it.", "Отправить тариф {name} в архив? Его больше не будут предлагать.",
                         "طرح {name} بایگانی شود؟ دیگر به کاربران پیشنهاد نمی‌شود."),
    "db_ask_plan_name": _m("New plan, 1/5. Send its name (up to 100 characters), or /cancel.",
                           "Новый тариф, 1/5. Отправьте название (до 100 символов) или /cancel.",
                           "طرح جدید، ۱ از ۵. نام آن را بفرستید (تا ۱۰۰ نویسه)، یا ‎/cancel."),
    "db_ask_plan_period": _m("New plan, 2/5. Period in days (1 to 3650):", "Новый тариф, 2/5. Срок в днях (от 1 до 3650):",
                             "طرح جدید، ۲ از ۵. مدت به روز (۱ تا ۳۶۵۰):"),
    "db_ask_plan_price": _m("New plan, 3/5. Price, e.g. 199 or 199.90:", "Новый тариф, 3/5. Цена, например 199 или 199.90:",
                            "طرح جدید، ۳ از ۵. قیمت، مثلاً ۱۹۹ یا ۱۹۹٫۹۰:"),
    "db_ask_plan_traffic": _m("New plan, 4/5. Traffic in GB (0 for unlimited):", "Новый тариф, 4/5. Трафик в ГБ (0 — безлимит):",
                              "طرح جدید، ۴ از ۵. ترافیک به گیگابایت (۰ یعنی نامحدود):"),
    "db_ask_plan_devices": _m("New plan, 5/5. How many devices (1 to 100)?", "Новый тариф, 5/5. Сколько устройств (от 1 до 100)?",
                              "طرح جدید، ۵ از ۵. چند دستگاه (۱ تا ۱۰۰)؟"),
    "db_ask_plan_field": _m("{plan}: send the new {field} (now {now}), or /cancel.", "{plan}: отправьте новое значение «{field}» (сейчас {now}) или /cancel.",
                            "{plan}: مقدار جدید «{field}» را بفرستید (اکنون {now})، یا ‎/cancel."),
    "db_plan_created": _m("Plan {name} created.", "Тариф {name} создан.", "طرح {name} ساخته شد."),
    # cards
    "db_cards": _m("{name}: payment cards (rotation: {rotation})", "{name}: карты для оплаты (ротация: {rotation})",
                   "{name}: کارت‌های پرداخت (چرخش: {rotation})"),
    "db_card_line": _m("{number} · {holder}{bank} · {state} · used {uses}", "{number} · {holder}{bank} · {state} · оплат: {uses}",
                       "{number} · {holder}{bank} · {state} · استفاده {uses}"),
    "db_card_on": _m("on", "вкл.", "فعال"),
    "db_card_off": _m("off", "выкл.", "غیرفعال"),
    "db_btn_add_card": _m("➕ Add a card", "➕ Добавить карту", "➕ افزودن کارت"),
    "db_btn_rotation": _m("Rotation: {rotation}", "Ротация: {rotation}", "چرخش: {rotation}"),
    "db_rotation_round_robin": _m("round robin", "по очереди", "نوبتی"),
    "db_rotation_random": _m("random", "случайно", "تصادفی"),
    "db_rotation_weighted": _m("weighted", "по весу", "وزنی"),
    "db_btn_disable": _m("Disable", "Отключить", "غیرفعال کردن"),
    "db_btn_enable": _m("Enable", "Включить", "فعال کردن"),
    "db_btn_remove": _m("Remove", "Удалить", "حذف"),
    "db_ask_remove_card": _m("Remove card {number}?", "Удалить карту {number}?", "کارت {number} حذف شود؟"),
    "db_ask_card_number": _m("New card, 1/3. Send the card number, or /cancel.", "Новая карта, 1/3. Отправьте номер карты или /cancel.",
                             "کارت جدید، ۱ از ۳. شمارهٔ کارت را بفرستید، یا ‎/cancel."),
    "db_ask_card_holder": _m("New card, 2/3. The holder's name as on the card:", "Новая карта, 2/3. Имя владельца, как на карте:",
                             "کارت جدید، ۲ از ۳. نام صاحب کارت:"),
    "db_ask_card_bank": _m("New card, 3/3. The bank's name (or press Skip):", "Новая карта, 3/3. Название банка (или «Пропустить»):",
                           "کارت جدید، ۳ از ۳. نام بانک (یا «رد شدن»):"),
    "db_card_added": _m("Card {number} added.", "Карта {number} добавлена.", "کارت {number} افزوده شد."),
    # payment settings
    "db_gateways": _m("{name}: payment settings of the methods your plan gives you", "{name}: настройки способов оплаты вашего тарифа",
                      "{name}: تنظیمات روش‌های پرداخت طرح شما"),
    "db_gateway": _m("{feature}: settings", "{feature}: настройки", "{feature}: تنظیمات"),
    "db_set": _m("set", "задано", "تنظیم شده"),
    "db_unset": _m("not set", "не задано", "تنظیم نشده"),
    "db_ask_setting": _m("{setting}: send the new value, or /cancel.{secret}", "{setting}: отправьте новое значение или /cancel.{secret}",
                         "{setting}: مقدار جدید را بفرستید، یا ‎/cancel.{secret}"),
    "db_secret_note": _m(" It is kept encrypted and never shown again.", " Оно хранится зашифрованным и больше не показывается.",
                         " رمزگذاری‌شده نگه داشته می‌شود و دیگر نمایش داده نمی‌شود."),
    # admins
    "db_admins": _m("{name}: admins", "{name}: администраторы", "{name}: مدیران"),
    "db_admin_line": _m("{id} ({role})", "{id} ({role})", "{id} ({role})"),
    "db_role_owner": _m("owner", "владелец", "مالک"),
    "db_role_admin": _m("admin", "администратор", "مدیر"),
    "db_role_master_admin": _m("platform admin", "администратор платформы", "مدیر پلتفرم"),
    "db_btn_add_admin": _m("➕ Add an admin", "➕ Добавить администратора", "➕ افزودن مدیر"),
    "db_ask_admin": _m("Send the new admin's Telegram user id (a number), or /cancel.",
                       "Отправьте Telegram ID нового администратора (число) или /cancel.",
                       "شناسهٔ عددی تلگرام مدیر جدید را بفرستید، یا ‎/cancel."),
    "db_ask_remove_admin": _m("Remove admin {id}?", "Удалить администратора {id}?", "مدیر {id} حذف شود؟"),
    "db_admin_added": _m("{id} is an admin now.", "{id} теперь администратор.", "{id} اکنون مدیر است."),
}
