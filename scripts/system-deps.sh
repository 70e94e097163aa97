#!/usr/bin/env bash
# System packages the PDF documents need beyond Python, installed with apt-get only when missing:
#   - a Chinese font: fonts-noto-cjk ("Noto Serif CJK SC" / "Noto Sans CJK SC", named in
#     documents/templates/documents.css); EXCHANGE_CJK_FONT_PACKAGE=fonts-wqy-zenhei picks the
#     smaller WenQuanYi Zen Hei instead (16 MB instead of 91 MB, also named there);
#   - HarfBuzz's subsetter (libharfbuzz-subset0): without it WeasyPrint subsets the CJK font with
#     fontTools, which takes 10-20 s per document instead of about 0.1 s.
# Idempotent: prints what it found or did; exits 0 when everything is already there.
# Usable from `make run` / `make test`; needs root (or sudo without a password) only to install.
set -euo pipefail

FONT_PACKAGE="${EXCHANGE_CJK_FONT_PACKAGE:-fonts-noto-cjk}"

has_cjk_font() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]
}
cjk_font_name() {
  fc-list :lang=zh family 2>/dev/null | tr ',' '\n' | grep -m1 -E 'CJK SC|Zen Hei' || fc-list :lang=zh family | head -n1
}
has_hb_subset() {
  ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset\.so\.0' \
    || ls /usr/lib/*/libharfbuzz-subset.so.0 /usr/lib/libharfbuzz-subset.so.0 >/dev/null 2>&1
}

missing=()
if has_cjk_font; then
  echo "system-deps: CJK font present: $(cjk_font_name)"
else
  missing+=("$FONT_PACKAGE" fontconfig)
fi
if has_hb_subset; then
  echo "system-deps: HarfBuzz subsetter present"
else
  missing+=(libharfbuzz-subset0)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

"$(dirname "$0")/apt-install.sh" system-deps \
  "install a CJK font (Noto Serif/Sans CJK SC) and HarfBuzz with its subset library by hand" "${missing[@]}"
fc-cache -f >/dev/null 2>&1 || true

if ! has_cjk_font; then
  echo "system-deps: $FONT_PACKAGE is installed but fontconfig finds no Chinese font" >&2
  exit 1
fi
if ! has_hb_subset; then
  echo "system-deps: libharfbuzz-subset0 is installed but libharfbuzz-subset.so.0 is not found" >&2
  exit 1
fi
echo "system-deps: installed ${missing[*]}; CJK font: $(cjk_font_name)"
