#!/usr/bin/env bash
# Regenerates the survey prompts (8 kHz mono G.711 u-law WAV) with espeak-ng
# and sox (Debian packages espeak-ng and sox). The generated files are
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
