// synth-worker CUDA kernels, compiled at run time with NVRTC (--fmad=false).
// Every operation mirrors the CPU reference in src/engine/{rng,mathf,denoise,vocoder}.rs in the
// same order, so both backends produce the same bits. Keep the two in step.

typedef unsigned long long u64;

#define LATENT 64
#define HIDDEN 256
#define COND 16
#define HARMONICS 48
#define SAMPLES_PER_FRAME 3200
#define FRAMES_PER_BLOCK 8
#define STREAM_LATENT 1ULL
#define STREAM_NOISE 2ULL

__device__ __forceinline__ u64 mix64(u64 x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

__device__ __forceinline__ u64 hash3(u64 seed, u64 stream, u64 index) {
    u64 a = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
    u64 b = mix64(a ^ (stream * 0xd6e8feb86659fd93ULL));
    return mix64(b ^ index);
}

__device__ __forceinline__ float unit_hi(u64 h) { return (float)(h >> 40) * (1.0f / 16777216.0f); }
__device__ __forceinline__ float unit_lo(u64 h) {
    return (float)((h >> 16) & 0xffffffULL) * (1.0f / 16777216.0f);
}
__device__ __forceinline__ float signed_unit(u64 h) {
    return (float)(h >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

__device__ __forceinline__ float normal(u64 seed, u64 stream, u64 index) {
    u64 h0 = hash3(seed, stream, index * 2ULL);
    u64 h1 = hash3(seed, stream, index * 2ULL + 1ULL);
    float s = ((unit_hi(h0) + unit_lo(h0)) + unit_hi(h1)) + unit_lo(h1);
    return (s - 2.0f) * 1.7320508f;
}

__device__ __forceinline__ float softsign(float x) { return x / (1.0f + fabsf(x)); }

__device__ __forceinline__ void sincos_0_2pi(float x, float* out_s, float* out_c) {
    const float PI_F = 3.14159265358979323846f;
    const float HALF_PI_F = 1.57079632679489661923f;
    float y = x - PI_F;
    float r;
    bool flip_cos;
    if (y > HALF_PI_F) {
        r = PI_F - y;
        flip_cos = true;
    } else if (y < -HALF_PI_F) {
        r = -PI_F - y;
        flip_cos = true;
    } else {
        r = y;
        flip_cos = false;
    }
    float r2 = r * r;
    float s = r * (1.0f + r2 * (-0.16666667f + r2 * (0.008333334f
              + r2 * (-0.0001984127f + r2 * (2.7557319e-6f + r2 * -2.5052108e-8f)))));
    float c = 1.0f + r2 * (-0.5f + r2 * (0.041666668f + r2 * (-0.0013888889f
              + r2 * (2.4801587e-5f + r2 * (-2.755732e-7f + r2 * 2.0876757e-9f)))));
    if (flip_cos) c = -c;
    *out_s = -s;
    *out_c = -c;
}

// One block of 256 threads denoises FRAMES_PER_BLOCK frames through all steps.
extern "C" __global__ void denoise(const float* __restrict__ w1, const float* __restrict__ wc,
                                   const float* __restrict__ b1, const float* __restrict__ temb,
                                   const float* __restrict__ w2t, const float* __restrict__ wo,
                                   const float* __restrict__ gamma, int steps,
                                   const float* __restrict__ cond, float* __restrict__ out,
                                   u64 seed, u64 first_frame, int frames) {
    __shared__ float z[FRAMES_PER_BLOCK][LATENT];
    __shared__ float h[FRAMES_PER_BLOCK][HIDDEN];
    __shared__ float cproj[FRAMES_PER_BLOCK][HIDDEN];
    __shared__ float oproj[FRAMES_PER_BLOCK][LATENT];
    __shared__ float c_s[FRAMES_PER_BLOCK][COND];

    const int t = threadIdx.x;
    const int f0 = blockIdx.x * FRAMES_PER_BLOCK;

    for (int i = t; i < FRAMES_PER_BLOCK * COND; i += HIDDEN) {
        int f = i / COND, c = i % COND;
        c_s[f][c] = (f0 + f < frames) ? cond[(size_t)(f0 + f) * COND + c] : 0.0f;
    }
    for (int i = t; i < FRAMES_PER_BLOCK * LATENT; i += HIDDEN) {
        int f = i / LATENT, d = i % LATENT;
        z[f][d] = normal(seed, STREAM_LATENT, (first_frame + (u64)(f0 + f)) * (u64)LATENT + (u64)d);
    }
    __syncthreads();

    // cproj[f][j] = Wc[j,:] . c[f]
    for (int f = 0; f < FRAMES_PER_BLOCK; f++) {
        float acc = 0.0f;
        for (int c = 0; c < COND; c++) acc = acc + wc[t * COND + c] * c_s[f][c];
        cproj[f][t] = acc;
    }
    for (int i = t; i < FRAMES_PER_BLOCK * LATENT; i += HIDDEN) {
        int f = i / LATENT, d = i % LATENT;
        float acc = 0.0f;
        for (int c = 0; c < COND; c++) acc = acc + wo[d * COND + c] * c_s[f][c];
        oproj[f][d] = acc;
    }
    float row[LATENT];
    for (int d = 0; d < LATENT; d++) row[d] = w1[t * LATENT + d];
    const float bias = b1[t];
    __syncthreads();

    for (int s = 0; s < steps; s++) {
        const float tb = temb[s * HIDDEN + t];
        for (int f = 0; f < FRAMES_PER_BLOCK; f++) {
            float acc = bias + tb;
            acc = acc + cproj[f][t];
            for (int d = 0; d < LATENT; d++) acc = acc + row[d] * z[f][d];
            h[f][t] = softsign(acc);
        }
        __syncthreads();
        const float g = gamma[s];
        for (int i = t; i < FRAMES_PER_BLOCK * LATENT; i += HIDDEN) {
            int f = i / LATENT, d = i % LATENT;
            float acc = oproj[f][d];
            // w2 is uploaded transposed (HIDDEN x LATENT): neighbouring threads read neighbouring
            // words; the sum still runs over j in order, as on the CPU.
            for (int j = 0; j < HIDDEN; j++) acc = acc + w2t[j * LATENT + d] * h[f][j];
            float zd = z[f][d];
            z[f][d] = zd + g * (acc - zd);
        }
        __syncthreads();
    }
    for (int i = t; i < FRAMES_PER_BLOCK * LATENT; i += HIDDEN) {
        int f = i / LATENT, d = i % LATENT;
        if (f0 + f < frames) out[(size_t)(f0 + f) * LATENT + d] = z[f][d];
    }
}

// grid (SAMPLES_PER_FRAME / blockDim.x, frames): one thread per output sample.
extern "C" __global__ void render(const float* __restrict__ f0, const float* __restrict__ noise,
                                  const float* __restrict__ amps, const u64* __restrict__ phase,
                                  const float* __restrict__ units,
                                  const unsigned int* __restrict__ mask, u64 seed,
                                  u64 first_frame, int frames, short* __restrict__ out) {
    __shared__ float aa[HARMONICS];
    __shared__ float da[HARMONICS];
    const int i = blockIdx.y;
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    for (int k = threadIdx.x; k < HARMONICS; k += blockDim.x) {
        float a = amps[(size_t)i * HARMONICS + k];
        float b = amps[(size_t)(i + 1) * HARMONICS + k];
        aa[k] = a;
        da[k] = b - a;
    }
    __syncthreads();
    if (i >= frames || n >= SAMPLES_PER_FRAME) return;

    const float t = (float)n / 3200.0f;
    const double f0a = (double)f0[i];
    const double f0b = (double)f0[i + 1];
    const double nd = (double)n;
    const double base = (double)(phase[i] >> 11) * (1.0 / 9007199254740992.0);
    const double cyc = base + (f0a * nd + ((f0b - f0a) * (nd * nd)) / 6400.0) / 24000.0;
    const double frac = cyc - floor(cyc);
    const float x = (float)(frac * 6.283185307179586);
    float sin1, cos1;
    sincos_0_2pi(x, &sin1, &cos1);
    const float c2 = cos1 + cos1;
    float acc = 0.0f;
    float s_prev = 0.0f;
    float s = sin1;
    for (int k = 0; k < HARMONICS; k++) {
        float a = aa[k] + da[k] * t;
        acc = acc + a * s;
        float s_next = c2 * s - s_prev;
        s_prev = s;
        s = s_next;
    }
    const float u0 = units[2 * i];
    const float u1 = units[2 * i + 1];
    const float u = u0 + (u1 - u0) * t;
    const float fl = floorf(u);
    const int k = (int)fl;
    const float f = u - fl;
    const bool voiced = k >= 0 && k < 32 && ((mask[i] >> k) & 1u) == 1u;
    const u64 g = (first_frame + (u64)i) * (u64)SAMPLES_PER_FRAME + (u64)n;
    const float nz = (signed_unit(hash3(seed, STREAM_NOISE, g))
                      - signed_unit(hash3(seed, STREAM_NOISE, g - 1ULL))) * 0.5f;
    const float nl = noise[i] + (noise[i + 1] - noise[i]) * t;
    float o;
    if (voiced) {
        float w = (4.0f * f) * (1.0f - f);
        float env = w * (2.0f - w);
        float cons = 1.0f - w;
        float cons3 = (cons * cons) * cons;
        o = env * acc + nl * ((0.25f * env + 0.9f * cons3) * nz);
    } else {
        o = (0.04f * nl) * nz;
    }
    float q = floorf(o * 32767.0f + 0.5f);
    q = fminf(fmaxf(q, -32768.0f), 32767.0f);
    out[(size_t)i * SAMPLES_PER_FRAME + n] = (short)(int)q;
}

// Fault: a store far outside any allocation. Leaves the sticky CUDA_ERROR_ILLEGAL_ADDRESS
// (the driver logs an MMU fault, Xid 31).
extern "C" __global__ void out_of_bounds(float* p, u64 offset) {
    volatile float* q = p + offset;
    *q = 1.0f;
}

// Fault: spins until *flag becomes non-zero (the host sets it only when the backend is dropped).
extern "C" __global__ void spin(volatile int* flag) {
    while (*flag == 0) {
        __nanosleep(1000);
    }
}

// Fault: a trap instruction (graphics engine exception). Leaves the sticky
// CUDA_ERROR_LAUNCH_FAILED; driver 580 on an H200 logged it as Xid 43.
extern "C" __global__ void trap_now() { asm volatile("trap;"); }
