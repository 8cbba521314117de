"""Accounts: opening one, proving its mailbox (verify and claim links), resetting and changing its password,
moving it to another address, creating users, and linking an account to its customer record."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from config import Settings
from models import Customer, OneTimeToken, User, db
from models.types import utcnow
from services import mail
from services.activity import record_activity
from services.context import Principal
from services.customer_rules import normalise_email
from services.database import unique_conflict
from services.errors import Conflict, InvalidInput
from services.passwords import hash_password, password_problem, spend_verification_time, verify_password
from services.rewards import open_wallet
from services.sessions import end_user_sessions
from services.tokens import new_secret, secret_digest

ADDRESS_TAKEN = "This address already belongs to another account."
EMAIL_TAKEN = "A user with this email already exists."
# The unique constraints a write of an account can hit: each means another account or record has the address.
ACCOUNT_UNIQUE_FIELDS = {"uq_users_email": "email", "uq_users_customer_pk": "email", "uq_customers_email": "email"}


def normalised_email(email: str, field: str = "email") -> str:
    """The address as stored, for input no schema has loaded (the users import); a 400 on `field` if not valid."""
    try:
        return normalise_email(email)
    except ValueError as exc:
        raise InvalidInput.single(field, str(exc)) from None


def _check_password_policy(password: str, email: str | None, field: str = "password") -> None:
    # The API's schemas (schemas.accounts) check the policy when they load a new password, all but "not the
    # email": that rule needs the account's address, which only a token or the caller's session tells, so the
    # services that read them finish the check here (and the /reset and /verify pages rely on it too).
    problem = password_problem(password, email)
    if problem:
        raise InvalidInput.single(field, problem)


def _new_user_id() -> str:
    return new_secret(12)


def create_user(email: str, password: str, role: str) -> User:
    """Add a user (not committed); a taken email is a Conflict.

    The email comes normalised and the password within the policy (schemas.accounts.NewUserInput loads them).
    """
    if db.session.scalar(select(User.pk).where(User.email == email)) is not None:
        raise Conflict("email", EMAIL_TAKEN)
    user = User(
        id=_new_user_id(),
        email=email,
        password_hash=hash_password(password),
        role=role,
        email_verified=False,
        active=True,
    )
    db.session.add(user)
    return user


def signup(
    email: str, password: str, first_name: str | None = None, last_name: str | None = None, *, settings: Settings
) -> None:
    """Open a customer account for the address; every outcome answers alike and the mail says what comes next.

    A new address gets an account with a customer record of its own, usable at once. An address that a
    customer record already has gets an account linked to nothing until the mailed link is opened, the
    password chosen there replacing the one given here. An address that already has an account gets a
    mail telling its owner that someone tried, with a reset link.

    The values come as schemas.accounts.SignupInput loads them: the email normalised, the password within the
    policy, the names trimmed.
    """
    password_hash = hash_password(password)  # on every path, so the answer time does not tell them apart
    owner = db.session.scalars(select(User).where(User.email == email)).first()
    customer = db.session.scalars(select(Customer).where(Customer.email == email)).first()
    if owner is not None or (customer is not None and _has_account(customer)):
        _mail_signup_attempt(settings, email, owner)
        return
    user = User(id=_new_user_id(), email=email, password_hash=password_hash, role="customer", email_verified=False)
    if customer is None:
        user.customer_pk = _new_customer(email, settings.signup_bonus_cashback, first_name, last_name).pk
    db.session.add(user)
    db.session.flush()
    purpose = "verify" if customer is None else "claim"
    record_activity("auth.signup", f"user:{user.id}", actor=f"user:{user.id}", link=purpose)
    raw_token = _new_one_time_token(user, purpose, settings.verify_token_ttl)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent signup for the same address won; its mail is on its way
        return
    _mail_verify_link(settings, email, raw_token, claim=customer is not None)


def _has_account(customer: Customer) -> bool:
    return db.session.scalar(select(User.pk).where(User.customer_pk == customer.pk)) is not None


def _new_customer(
    email: str, signup_bonus: Decimal, first_name: str | None = None, last_name: str | None = None
) -> Customer:
    """A customer record created for an account, `signup_bonus` in its wallet (flushed, not committed)."""
    now = utcnow()
    customer = Customer(
        id=new_secret(12), email=email, first_name=first_name, last_name=last_name, created_at=now, updated_at=now
    )
    db.session.add(customer)
    db.session.flush()
    open_wallet(customer, signup_bonus)
    return customer


def customer_for_email(
    email: str, first_name: str | None = None, last_name: str | None = None, *, signup_bonus: Decimal
) -> Customer:
    """The customer with this email, or a new one with `signup_bonus` in its wallet (flushed, not committed)."""
    email = normalised_email(email)
    customer = db.session.scalars(select(Customer).where(Customer.email == email)).first()
    return customer if customer is not None else _new_customer(email, signup_bonus, first_name, last_name)


def _new_one_time_token(user: User, purpose: str, ttl: int, *, email: str | None = None) -> str:
    """Replace any unused token of this purpose with a new one; return the raw token (never stored)."""
    now = utcnow()
    db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.user_pk == user.pk, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    raw = new_secret(32)
    db.session.add(
        OneTimeToken(
            user_pk=user.pk,
            purpose=purpose,
            token_hash=secret_digest(raw),
            email=email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return raw


def _link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.public_base_url}/{path}?token={token}"


def _mail_verify_link(settings: Settings, email: str, token: str, *, claim: bool) -> None:
    hours = settings.verify_token_ttl // 3600
    if claim:
        intro = (
            "Welcome! We already know this address from your purchases. To see your rewards, open this link "
            f"within {hours} hours and choose your password there"
        )
    else:
        intro = f"Welcome! Confirm your email address by opening this link within {hours} hours"
    mail.send_mail(
        email,
        "Confirm your email address",
        f"{intro}:\n\n{_link(settings, 'verify', token)}\n\nIf you did not sign up, ignore this message.\n",
    )


def _mail_signup_attempt(settings: Settings, email: str, owner: User | None) -> None:
    """Tell the owner of an address that already has an account that someone tried to sign up with it."""
    text = "Someone tried to sign up with this email address, which already has an account. "
    if owner is not None and owner.active:
        raw_token = _new_one_time_token(owner, "reset", settings.reset_token_ttl)
        record_activity("auth.signup_attempt", f"user:{owner.id}", actor=None)
        db.session.commit()
        reset_link = _link(settings, "reset", raw_token)
        text += f"If it was you and you forgot your password, choose a new one here:\n\n{reset_link}\n\n"
    else:
        db.session.rollback()
        text += "Sign in with that account, or ask us for help.\n\n"
    mail.send_mail(
        email, "Someone tried to sign up with your address", text + "If it was not you, ignore this message.\n"
    )


def request_reset(email: str | None, *, settings: Settings) -> None:
    """Mail a single-use reset link if the email belongs to an active user; say nothing either way.

    The email comes normalised, or None when it is not a valid address (schemas.accounts.ResetRequestInput).
    """
    if email is None:
        return
    user = db.session.scalars(select(User).where(User.email == email, User.active.is_(True))).first()
    if user is None:
        spend_verification_time("")  # keep the answer time alike for known and unknown emails
        return
    raw_token = _new_one_time_token(user, "reset", settings.reset_token_ttl)
    record_activity("auth.reset_requested", f"user:{user.id}", actor=None)
    db.session.commit()
    minutes = settings.reset_token_ttl // 60
    mail.send_mail(
        user.email,
        "Reset your password",
        f"Someone asked to reset the password of this account. To choose a new password, open this link "
        f"within {minutes} minutes:\n\n{_link(settings, 'reset', raw_token)}\n\n"
        "If it was not you, ignore this message: your password stays as it is.\n",
    )


TOKEN_SPENT = "is invalid, expired or already used"  # noqa: S105 - a message, not a secret


def _live_token(raw_token: str, purposes: tuple[str, ...]) -> OneTimeToken | None:
    """The unused, unexpired token with this value and one of these purposes, if any."""
    token = db.session.scalars(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == secret_digest(raw_token), OneTimeToken.purpose.in_(purposes)
        )
    ).first()
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        return None
    return token


def _redeem(raw_token: str, *purposes: str) -> tuple[User, OneTimeToken]:
    """Use a mailed token once; an unknown, used, expired or superseded token is a 400 on `token`."""
    token = _live_token(raw_token, purposes)
    if token is None:
        raise InvalidInput.single("token", TOKEN_SPENT)
    claimed = db.session.execute(
        update(OneTimeToken).where(OneTimeToken.pk == token.pk, OneTimeToken.used_at.is_(None)).values(used_at=utcnow())
    ).rowcount
    user = db.session.get(User, token.user_pk)
    if claimed != 1 or user is None or not user.active:
        db.session.rollback()
        raise InvalidInput.single("token", TOKEN_SPENT)
    return user, token


def confirmation_kind(raw_token: str) -> str | None:
    """What a /verify link confirms (verify, claim or email), or None when it can no longer be used."""
    token = _live_token(raw_token, ("verify", "claim", "email"))
    return token.purpose if token is not None else None


def _prove_mailbox(user: User, signup_bonus: Decimal) -> None:
    """The user opened a link mailed to their address: mark it verified and link the customer record it has
    (a new one, with `signup_bonus` in its wallet, when there is none)."""
    user.email_verified = True
    user.updated_at = utcnow()
    if user.role != "customer" or user.customer_pk is not None:
        return
    customer = db.session.scalars(select(Customer).where(Customer.email == user.email)).first()
    if customer is None:
        customer = _new_customer(user.email, signup_bonus)
    elif _has_account(customer):
        return  # the record already belongs to another account: link nothing
    user.customer_pk = customer.pk
    record_activity("auth.customer_linked", f"user:{user.id}", actor=f"user:{user.id}", customer=customer.id)


def _set_password(user: User, password: str, reason: str) -> None:
    """A new password: every session of the user ends."""
    user.password_hash = hash_password(password)
    user.updated_at = utcnow()
    end_user_sessions(user, reason)


def confirm_reset(raw_token: str, password: str, *, settings: Settings) -> None:
    """Set a new password with a reset token; every session of the user ends and a notice is mailed."""
    token = _live_token(raw_token, ("reset",))
    if token is not None:  # "not the email" needs the token's account (see _check_password_policy)
        _check_password_policy(password, db.session.get(User, token.user_pk).email)
    user, _ = _redeem(raw_token, "reset")
    _set_password(user, password, "password_reset")
    _prove_mailbox(user, settings.signup_bonus_cashback)  # the reset link reached this mailbox
    record_activity("auth.reset", f"user:{user.id}", actor=f"user:{user.id}")
    with unique_conflict(ACCOUNT_UNIQUE_FIELDS, ADDRESS_TAKEN):
        db.session.commit()
    mail.send_mail(
        user.email,
        "Your password was changed",
        "The password of this account was just reset, and every device signed in was signed out.\n"
        "If it was not you, reset it again at once and contact us.\n",
    )


def verify_email(raw_token: str, password: str | None = None, *, settings: Settings) -> None:
    """Confirm the address with a mailed link; a claim link also sets the password and ends every session."""
    token = _live_token(raw_token, ("verify", "claim"))
    if token is not None and token.purpose == "claim":
        if password is None:
            raise InvalidInput.single("password", "is required: choose the password of your account")
        # "not the email" needs the token's account (see _check_password_policy)
        _check_password_policy(password, db.session.get(User, token.user_pk).email)
    user, token = _redeem(raw_token, "verify", "claim")
    if token.purpose == "claim":
        _set_password(user, password, "account_claimed")
    _prove_mailbox(user, settings.signup_bonus_cashback)
    record_activity("auth.email_verified", f"user:{user.id}", actor=f"user:{user.id}", link=token.purpose)
    with unique_conflict(ACCOUNT_UNIQUE_FIELDS, ADDRESS_TAKEN):
        db.session.commit()


def request_email_change(principal: Principal, new_email: str, *, settings: Settings) -> None:
    """Mail a confirm link to the new address (normalised by schemas.accounts.EmailChangeInput); nothing tells the
    caller whether the address is taken."""
    user = db.session.get(User, principal.pk)
    if new_email == user.email or _address_taken(new_email, user):
        db.session.rollback()
        return
    raw_token = _new_one_time_token(user, "email", settings.verify_token_ttl, email=new_email)
    record_activity("auth.email_change_requested", principal.label)
    db.session.commit()
    hours = settings.verify_token_ttl // 3600
    mail.send_mail(
        new_email,
        "Confirm your new email address",
        f"To sign in with this address from now on, open this link within {hours} hours:\n\n"
        f"{_link(settings, 'verify', raw_token)}\n\nIf you did not ask for this, ignore this message.\n",
    )


def _address_taken(email: str, user: User) -> bool:
    """Whether another account or another customer record has this address."""
    if db.session.scalar(select(User.pk).where(User.email == email, User.pk != user.pk)) is not None:
        return True
    owner = db.session.scalar(select(Customer.pk).where(Customer.email == email))
    return owner is not None and owner != user.customer_pk


def confirm_email_change(raw_token: str) -> None:
    """Move the account (and its customer record) to the address the token was mailed to; the old one is told."""
    user, token = _redeem(raw_token, "email")
    new_email, old_email = token.email, user.email
    if _address_taken(new_email, user):
        db.session.rollback()
        raise Conflict("email", ADDRESS_TAKEN)
    user.email, user.email_verified, user.updated_at = new_email, True, utcnow()
    if user.customer_pk is not None:
        customer = db.session.get(Customer, user.customer_pk)
        customer.email = new_email
        customer.updated_at = max(utcnow(), customer.updated_at + timedelta(microseconds=1))
    record_activity("auth.email_changed", f"user:{user.id}", actor=f"user:{user.id}")
    with unique_conflict(ACCOUNT_UNIQUE_FIELDS, ADDRESS_TAKEN):
        db.session.commit()
    mail.send_mail(
        old_email,
        "The email address of your account was changed",
        f"This account now signs in with {new_email}. If it was not you, contact us at once.\n",
    )


def confirm(raw_token: str, password: str | None = None, *, settings: Settings) -> str:
    """Use any /verify link (verify, claim or email); return what it confirmed."""
    kind = confirmation_kind(raw_token)
    if kind == "email":
        confirm_email_change(raw_token)
    else:
        verify_email(raw_token, password, settings=settings)
    return kind or "verify"


def change_password(principal: Principal, current_password: str, new_password: str) -> None:
    """Replace the caller's password; their other sessions end."""
    user = db.session.get(User, principal.pk)
    if not verify_password(user.password_hash, current_password):
        raise InvalidInput.single("current_password", "is not right")
    _check_password_policy(new_password, user.email, field="new_password")  # "not the email" needs the account's
    user.password_hash = hash_password(new_password)
    user.updated_at = utcnow()
    end_user_sessions(user, "password_changed", keep=principal.session_id)
    record_activity("auth.password_changed", principal.label)
    db.session.commit()


def me(principal: Principal) -> tuple[User, Customer | None]:
    """The caller's user record and linked customer (None until a link is proven)."""
    user = db.session.get(User, principal.pk)
    customer = db.session.get(Customer, user.customer_pk) if user.customer_pk else None
    return user, customer
