"""The A2C loss. Each agent (torch, TF) implements this formula in its own framework, and the
parity test holds them to the same loss and gradients for the same weights and rollout:

    w_t       = valid_t / max(sum(valid), 1)            (autoreset rows weigh nothing)
    policy    = -sum_t w_t * log pi(a_t | s_t) * A_t    (A_t fixed: computed in the rollout)
    value     =  sum_t w_t * (R_t - V(s_t))^2
    entropy   =  sum_t w_t * H(pi(. | s_t))
    loss      = policy + value_coef * value - entropy_coef * entropy

Gradients are clipped to a global norm of `max_grad_norm` (the norm before clipping is logged).
"""

STATS = ("loss", "policy_loss", "value_loss", "entropy", "grad_norm")
