#!/usr/bin/env bash
# Regenerates the prompts (survey, after-hours actions, keypad questions and
# queue announcements; 8 kHz mono G.711 u-law WAV) with espeak-ng and sox
# (Debian packages espeak-ng and sox). The generated files are
# committed; run this only to change the wording. Replace any file with a
# studio recording of the same name (8 kHz mono; 16-bit PCM or G.711).
set -euo pipefail
cd "$(dirname "$0")"
say() { # lang voice file text
	mkdir -p "$1"
	espeak-ng -v "$2" -s 145 -w "$1/$3.tmp.wav" "$4"
	sox "$1/$3.tmp.wav" -r 8000 -c 1 -e u-law "$1/$3.wav"
	rm -f "$1/$3.tmp.wav"
}
say en en csat    "Thank you for calling. Please rate our service today from 1 to 5, where 5 means very satisfied."
say en en nps     "How likely are you to recommend us to a friend? Press a number from 0 to 10, then the hash key."
say en en invalid "Sorry, that is not a valid answer."
say en en thanks  "Thank you for your feedback. Goodbye."
say vi vi csat    "Cảm ơn quý khách đã gọi. Xin vui lòng đánh giá chất lượng dịch vụ hôm nay từ 1 đến 5, 5 là rất hài lòng."
say vi vi nps     "Quý khách có sẵn lòng giới thiệu chúng tôi cho bạn bè không? Xin bấm một số từ 0 đến 10, rồi bấm phím thăng."
say vi vi invalid "Xin lỗi, lựa chọn không hợp lệ."
say vi vi thanks  "Cảm ơn ý kiến của quý khách. Xin chào."
# After-hours actions (sip: message, callback, voicemail).
say en en closed    "Thank you for calling. We are closed now. Please call again during our opening hours. Goodbye."
say en en callback  "Thank you for calling. We are closed now. We have noted your number and will call you back when we open. Goodbye."
say en en voicemail "Thank you for calling. We are closed now. Please leave a message after the tone, then hang up or press the hash key."
say vi vi closed    "Cảm ơn quý khách đã gọi. Hiện chúng tôi đã hết giờ làm việc. Xin vui lòng gọi lại trong giờ làm việc. Xin chào."
say vi vi callback  "Cảm ơn quý khách đã gọi. Hiện chúng tôi đã hết giờ làm việc. Chúng tôi đã ghi lại số điện thoại và sẽ gọi lại cho quý khách. Xin chào."
say vi vi voicemail "Cảm ơn quý khách đã gọi. Hiện chúng tôi đã hết giờ làm việc. Xin vui lòng để lại lời nhắn sau tiếng bíp."
# Keypad questions before the queue (sip/ivr.go): the caller's service style
# and (with ivr.reason_menu) the reason for calling; the reason prompt must
# match the configured options.
say en en style     "To be guided step by step, press 1. To have us do it for you, press 2."
say en en reason    "For orders, press 1. For a complaint, press 2. For technical support, press 3."
say vi vi style     "Để được hướng dẫn từng bước, xin bấm phím 1. Để chúng tôi làm giúp quý khách, xin bấm phím 2."
say vi vi reason    "Đặt hàng, xin bấm phím 1. Khiếu nại, xin bấm phím 2. Hỗ trợ kỹ thuật, xin bấm phím 3."
# Queue announcements, played in pieces: position + number, wait + number +
# minute(s), press + key + callback_offer; numbers above 20 are not spoken
# (position_many, wait_long).
say en en position         "You are caller number"
say en en position_many    "There are more than twenty callers ahead of you."
say en en wait             "Your estimated wait is about"
say en en minute           "minute."
say en en minutes          "minutes."
say en en wait_short       "Your estimated wait is less than a minute."
say en en wait_long        "Your estimated wait is more than twenty minutes."
say en en press            "Press"
say en en callback_offer   "to be called back and keep your place in the queue."
say en en callback_confirm "Thank you. We will call you back, and you keep your place in the queue. Goodbye."
say en en star             "star"
say en en hash             "hash"
say vi vi position         "Quý khách là người gọi thứ"
say vi vi position_many    "Có hơn hai mươi người đang chờ trước quý khách."
say vi vi wait             "Thời gian chờ dự kiến khoảng"
say vi vi minute           "phút."
say vi vi minutes          "phút."
say vi vi wait_short       "Thời gian chờ dự kiến dưới một phút."
say vi vi wait_long        "Thời gian chờ dự kiến hơn hai mươi phút."
say vi vi press            "Xin bấm phím"
say vi vi callback_offer   "để được gọi lại mà vẫn giữ nguyên thứ tự."
say vi vi callback_confirm "Cảm ơn quý khách. Chúng tôi sẽ gọi lại, và quý khách vẫn giữ nguyên thứ tự. Xin chào."
say vi vi star             "sao"
say vi vi hash             "thăng"
for n in $(seq 0 20); do
	say en en "num_$n" "$n"
	say vi vi "num_$n" "$n"
done
