/* A template (fastnn_common.h: loop templates): included by optim_simd.h once
 * per element type, with T, FASTNN_SUF(name) and SQRT (sqrt or sqrtf) bound;
 * no include guard.  Each update rule is one loop over i < n. */

/* p -= lr*g */
FASTNN_CLONES static void FASTNN_SUF(fastnn_sgd)(T *p, const T *g, ptrdiff_t n, T lr)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        p[i] = p[i] - lr * g[i];
    }
}

/* v = mu*v - lr*g;  p += v */
FASTNN_CLONES static void FASTNN_SUF(fastnn_momentum)(T *p, const T *g, T *v, ptrdiff_t n,
                                                      T mu, T lr)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T vi = mu * v[i] - lr * g[i];
        v[i] = vi;
        p[i] = p[i] + vi;
    }
}

/* p += mu2*v;  p -= c*g;  v *= mu;  v -= lr*g   (mu2 = mu*mu, c = (1+mu)*lr) */
FASTNN_CLONES static void FASTNN_SUF(fastnn_nesterov)(T *p, const T *g, T *v, ptrdiff_t n,
                                                      T mu2, T c, T mu, T lr)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T gi = g[i], vi = v[i];
        T pi = p[i] + mu2 * vi;
        p[i] = pi - c * gi;
        v[i] = vi * mu - lr * gi;
    }
}

/* h += g*g;  p -= lr*g / (sqrt(h) + eps) */
FASTNN_CLONES static void FASTNN_SUF(fastnn_adagrad)(T *p, const T *g, T *h, ptrdiff_t n,
                                                     T lr, T eps)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T gi = g[i];
        T hi = h[i] + gi * gi;
        h[i] = hi;
        p[i] = p[i] - lr * gi / (SQRT(hi) + eps);
    }
}

/* h *= rho;  h += (1-rho)*g*g;  p -= lr*g / (sqrt(h) + eps)   (c = 1-rho) */
FASTNN_CLONES static void FASTNN_SUF(fastnn_rmsprop)(T *p, const T *g, T *h, ptrdiff_t n,
                                                     T rho, T c, T lr, T eps)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T gi = g[i];
        T hi = h[i] * rho + c * gi * gi;
        h[i] = hi;
        p[i] = p[i] - lr * gi / (SQRT(hi) + eps);
    }
}

/* m += c1*(g-m);  v += c2*(g*g - v);  p -= lr_t*m / (sqrt(v) + eps) */
FASTNN_CLONES static void FASTNN_SUF(fastnn_adam)(T *p, const T *g, T *m, T *v, ptrdiff_t n,
                                                  T c1, T c2, T lr_t, T eps)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        T gi = g[i];
        T mi = m[i] + c1 * (gi - m[i]);
        T vi = v[i] + c2 * (gi * gi - v[i]);
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] - lr_t * mi / (SQRT(vi) + eps);
    }
}
