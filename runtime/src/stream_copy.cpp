#include "stream_copy.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace normforge {

void stream_copy(void *dst, const void *src, size_t bytes, const void *prefetch,
                 size_t prefetch_bytes, const void *prefetch2, size_t prefetch2_bytes) {
#if defined(__x86_64__)
    // SSE2 is part of every x86-64 CPU: 16-byte streaming stores need no run-time dispatch and
    // fill the write-combining buffers as well as wider ones do for a memory-bound copy.
    auto *d = static_cast<uint8_t *>(dst);
    const auto *s = static_cast<const uint8_t *>(src);
    size_t head = (16 - (reinterpret_cast<uintptr_t>(d) & 15)) & 15;
    if (head > bytes) head = bytes;
    memcpy(d, s, head);
    d += head, s += head, bytes -= head;
    const char *pf = static_cast<const char *>(prefetch), *pf2 = static_cast<const char *>(prefetch2);
    size_t i = 0;
    for (; i + 64 <= bytes; i += 64) {
        if (i < prefetch_bytes) _mm_prefetch(pf + i, _MM_HINT_T1);
        if (i < prefetch2_bytes) _mm_prefetch(pf2 + i, _MM_HINT_T1);
        __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i));
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i + 16));
        __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i + 32));
        __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i + 48));
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + i), a);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + i + 16), b);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + i + 32), c);
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + i + 48), e);
    }
    for (; i + 16 <= bytes; i += 16)
        _mm_stream_si128(reinterpret_cast<__m128i *>(d + i),
                         _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i)));
    memcpy(d + i, s + i, bytes - i);
#else
    (void)prefetch, (void)prefetch_bytes, (void)prefetch2, (void)prefetch2_bytes;
    memcpy(dst, src, bytes);
#endif
}

void stream_fence() {
#if defined(__x86_64__)
    _mm_sfence();
#endif
}

}  // namespace normforge
